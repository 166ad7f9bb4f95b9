/*
 * `netunnel client --remote-port PORT` in C: a forward tunnel that stays open
 * until the program is interrupted (Ctrl-C or SIGTERM).
 *
 *   cc forward.c $(pkg-config --cflags --libs netunnel) -o netunnel-forward
 *   ./netunnel-forward SERVER_URL REMOTE_PORT [LOCAL_PORT]
 *
 * Connections to the printed entrance are carried to 127.0.0.1:REMOTE_PORT as
 * the server sees it. scripts/bench measures the C library with it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netunnel.h>

static int fail(const char *what, netunnel_result code) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)code, netunnel_last_error());
    return 1;
}

int main(int argc, char **argv) {
    netunnel_client *client = NULL;
    netunnel_tunnel *tunnel = NULL;
    netunnel_result code;
    sigset_t stop;
    int signal_number = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVER_URL REMOTE_PORT [LOCAL_PORT]\n", argv[0]);
        return 2;
    }
    /* Blocked before the library starts its threads, so they inherit the mask
       and the signal comes to sigwait below. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    code = netunnel_client_new(argv[1], NULL, &client);
    if (code == NETUNNEL_OK) {
        code = netunnel_client_connect(client);
    }
    if (code != NETUNNEL_OK) {
        fail("connecting", code);
        netunnel_client_free(client);
        return 1;
    }
    code = netunnel_client_open_forward(client, "127.0.0.1",
                                        (uint16_t)(argc > 3 ? strtoul(argv[3], NULL, 10) : 0),
                                        "127.0.0.1", (uint16_t)strtoul(argv[2], NULL, 10), &tunnel);
    if (code != NETUNNEL_OK) {
        fail("opening the tunnel", code);
        netunnel_client_free(client);
        return 1;
    }
    {
        /* An IPv6 address in brackets, so that the port stays readable. */
        const char *host = netunnel_tunnel_entrance_address(tunnel);
        int v6 = strchr(host, ':') != NULL;
        printf("Tunnel entrance socket: %s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
               (unsigned)netunnel_tunnel_entrance_port(tunnel));
    }
    fflush(stdout);

    sigwait(&stop, &signal_number);

    netunnel_tunnel_free(tunnel);
    netunnel_client_free(client);
    return 0;
}
