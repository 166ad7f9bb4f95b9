/*
 * Eight threads share one client and open, use and stop tunnels at once:
 *   ./threads SERVER_URL ECHO_PORT
 * Built with -fsanitize=thread by the tests.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netunnel.h>

#define THREADS 8
#define ROUNDS 10
#define SIZE 20000

static netunnel_client *client;
static uint16_t echo_port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int failures = 0;

static void failed(const char *what, netunnel_result code) {
    pthread_mutex_lock(&lock);
    fprintf(stderr, "FAIL %s (%d): %s\n", what, (int)code, netunnel_last_error());
    failures++;
    pthread_mutex_unlock(&lock);
}

static int echo_once(uint16_t port, unsigned seed) {
    unsigned char sent[SIZE], got[SIZE];
    struct sockaddr_in address;
    size_t i, done = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    for (i = 0; i < SIZE; i++) {
        sent[i] = (unsigned char)(i * seed + seed);
    }
    if (write(fd, sent, SIZE) != SIZE) {
        close(fd);
        return 0;
    }
    while (done < SIZE) {
        ssize_t n = read(fd, got + done, SIZE - done);
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    return done == SIZE && memcmp(sent, got, SIZE) == 0;
}

static void *work(void *arg) {
    unsigned me = (unsigned)(size_t)arg;
    int round;
    for (round = 0; round < ROUNDS; round++) {
        netunnel_tunnel *tunnel = NULL;
        netunnel_result code =
            netunnel_client_open_forward(client, NULL, 0, "127.0.0.1", echo_port, &tunnel);
        if (code != NETUNNEL_OK) {
            failed("open", code);
            continue;
        }
        if (!echo_once(netunnel_tunnel_entrance_port(tunnel), me * 31 + (unsigned)round)) {
            failed("echo", NETUNNEL_OK);
        }
        /* Half the tunnels drain, half are cut; freeing a running one stops it. */
        if (round % 3 != 2) {
            code = netunnel_tunnel_stop(tunnel, round % 2 == 0);
            if (code != NETUNNEL_OK) {
                failed("stop", code);
            }
        }
        netunnel_tunnel_free(tunnel);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t threads[THREADS];
    size_t i;
    netunnel_result code;
    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVER_URL ECHO_PORT\n", argv[0]);
        return 2;
    }
    echo_port = (uint16_t)strtoul(argv[2], NULL, 10);
    code = netunnel_client_new(argv[1], NULL, &client);
    if (code == NETUNNEL_OK) {
        code = netunnel_client_connect(client);
    }
    if (code != NETUNNEL_OK) {
        fprintf(stderr, "connecting failed (%d): %s\n", (int)code, netunnel_last_error());
        return 1;
    }
    for (i = 0; i < THREADS; i++) {
        pthread_create(&threads[i], NULL, work, (void *)i);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    netunnel_client_free(client);
    if (failures != 0) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("%d threads, %d tunnels each: all echoed\n", THREADS, ROUNDS);
    return 0;
}
