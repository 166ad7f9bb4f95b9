/*
 * A NETunnel server in a C program.
 *
 *   cc server.c $(pkg-config --cflags --libs netunnel) -o netunnel-server
 *   ./netunnel-server [PORT]        (default 4040; 0 picks a free port)
 *
 * It serves until its standard input closes (Ctrl-D), then stops.
 */
#include <stdio.h>
#include <stdlib.h>

#include <netunnel.h>

static int fail(const char *what, netunnel_result code) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)code, netunnel_last_error());
    return 1;
}

int main(int argc, char **argv) {
    unsigned long port = argc > 1 ? strtoul(argv[1], NULL, 10) : 4040;
    netunnel_server_options *options = netunnel_server_options_new();
    netunnel_server *server = NULL;
    netunnel_result code;

    netunnel_server_options_set_host(options, "127.0.0.1");
    netunnel_server_options_set_port(options, (uint16_t)port);
    netunnel_server_options_set_environment(options, false);
    code = netunnel_server_start(options, &server);
    if (code != NETUNNEL_OK) {
        /* The message first: the next call replaces it. */
        fail("starting the server", code);
        netunnel_server_options_free(options);
        return 1;
    }
    netunnel_server_options_free(options);
    printf("listening on %s port %u\n", netunnel_server_url(server),
           (unsigned)netunnel_server_port(server));
    fflush(stdout);

    while (getchar() != EOF) {
    }

    code = netunnel_server_stop(server);
    if (code != NETUNNEL_OK) {
        fail("stopping the server", code);
    }
    netunnel_server_free(server);
    if (code != NETUNNEL_OK) {
        return 1;
    }
    puts("stopped");
    return 0;
}
