/*
 * A NETunnel client in a C program: opens a tunnel to a TCP service behind
 * the server, pushes data through it and checks what comes back.
 *
 *   cc client.c $(pkg-config --cflags --libs netunnel) -o netunnel-client
 *   ./netunnel-client SERVER_URL ECHO_PORT [BYTES]
 *
 * ECHO_PORT is a service on the server's side that sends back what it gets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netunnel.h>

static int fail(const char *what, netunnel_result code) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)code, netunnel_last_error());
    return 1;
}

/* Connects to 127.0.0.1:port; -1 on failure. */
static int connect_to(uint16_t port) {
    struct sockaddr_in address;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("connect");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Sends `size` bytes of a pattern through `fd`, reads them back, compares. */
static int echo_through(int fd, size_t size) {
    unsigned char *sent = malloc(size);
    unsigned char *got = malloc(size);
    size_t i, written = 0, read_back = 0;
    int same;
    for (i = 0; i < size; i++) {
        sent[i] = (unsigned char)(i * 7 + i / 251);
    }
    while (read_back < size) {
        if (written < size) {
            ssize_t n = write(fd, sent + written, size - written < 65536 ? size - written : 65536);
            if (n <= 0) {
                break;
            }
            written += (size_t)n;
        }
        while (read_back < written) {
            ssize_t n = read(fd, got + read_back, written - read_back);
            if (n <= 0) {
                goto done;
            }
            read_back += (size_t)n;
        }
    }
done:
    same = read_back == size && memcmp(sent, got, size) == 0;
    free(sent);
    free(got);
    return same;
}

int main(int argc, char **argv) {
    netunnel_client *client = NULL;
    netunnel_tunnel *tunnel = NULL;
    netunnel_result code;
    size_t size;
    int fd, ok;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVER_URL ECHO_PORT [BYTES]\n", argv[0]);
        return 2;
    }
    size = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000000;

    code = netunnel_client_new(argv[1], NULL, &client);
    if (code != NETUNNEL_OK) {
        return fail("creating the client", code);
    }
    code = netunnel_client_connect(client);
    if (code != NETUNNEL_OK) {
        fail("connecting", code);
        netunnel_client_free(client);
        return 1;
    }
    /* Listen here on a free port; carry each connection to the echo service. */
    code = netunnel_client_open_forward(client, "127.0.0.1", 0, "127.0.0.1",
                                        (uint16_t)strtoul(argv[2], NULL, 10), &tunnel);
    if (code != NETUNNEL_OK) {
        fail("opening the tunnel", code);
        netunnel_client_free(client);
        return 1;
    }
    {
        /* IPv6 addresses in brackets, so that the ports stay readable. */
        const char *in = netunnel_tunnel_entrance_address(tunnel);
        const char *out = netunnel_tunnel_exit_address(tunnel);
        int v6_in = strchr(in, ':') != NULL, v6_out = strchr(out, ':') != NULL;
        printf("tunnel %llu: %s%s%s:%u -> %s%s%s:%u\n",
               (unsigned long long)netunnel_tunnel_id(tunnel), v6_in ? "[" : "", in,
               v6_in ? "]" : "", (unsigned)netunnel_tunnel_entrance_port(tunnel),
               v6_out ? "[" : "", out, v6_out ? "]" : "",
               (unsigned)netunnel_tunnel_exit_port(tunnel));
    }

    fd = connect_to(netunnel_tunnel_entrance_port(tunnel));
    ok = fd >= 0 && echo_through(fd, size);
    if (fd >= 0) {
        close(fd);
    }
    printf("%s: %lu bytes through the tunnel and back\n", ok ? "ok" : "MISMATCH", (unsigned long)size);

    /* What the client counted, in the Prometheus text format: print one line. */
    {
        char *metrics = NULL;
        const char *line;
        code = netunnel_client_metrics(client, &metrics);
        if (code != NETUNNEL_OK) {
            ok = fail("reading the metrics", code) == 0;
        } else if ((line = strstr(metrics, "\nnetunnel_bytes_total{direction=\"to_exit\"}")) != NULL) {
            printf("metrics: %.*s\n", (int)strcspn(line + 1, "\n"), line + 1);
        }
        netunnel_string_free(metrics);
    }

    code = netunnel_tunnel_stop(tunnel, true);
    if (code != NETUNNEL_OK) {
        ok = fail("stopping the tunnel", code) == 0;
    }
    netunnel_tunnel_free(tunnel);
    code = netunnel_client_close(client);
    if (code != NETUNNEL_OK) {
        ok = fail("closing the client", code) == 0;
    }
    netunnel_client_free(client);
    return ok ? 0 : 1;
}
