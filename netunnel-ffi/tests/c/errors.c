/*
 * Every failure a C caller can meet returns its code and a message:
 *   ./errors CONFIG_DIR
 * Starts its own server (destinations limited to one port) in the process.
 */
#include <stdio.h>
#include <string.h>

#include <netunnel.h>

static int failures = 0;

/* What the log callback saw: records of the server, with its instance. */
static int server_records = 0;
static int records_with_instance = 0;

static void on_log(void *userdata, netunnel_log_level level, const char *target,
                   const char *instance, const char *message) {
    int *calls = userdata;
    (void)level;
    (void)message;
    /* Called from the library's threads; this test only counts. */
    __atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
    if (strcmp(target, "netunnel::server") == 0) {
        __atomic_add_fetch(&server_records, 1, __ATOMIC_RELAXED);
        if (strncmp(instance, "server-", 7) == 0) {
            __atomic_add_fetch(&records_with_instance, 1, __ATOMIC_RELAXED);
        }
    }
}

/* Checks that `got` is `want` and, for a failure, that a message came with it. */
static void expect(const char *what, netunnel_result got, netunnel_result want) {
    const char *message = netunnel_last_error();
    if (got != want) {
        fprintf(stderr, "FAIL %s: got %d, wanted %d (%s)\n", what, (int)got, (int)want, message);
        failures++;
    } else if (want != NETUNNEL_OK && message[0] == '\0') {
        fprintf(stderr, "FAIL %s: code %d came without a message\n", what, (int)got);
        failures++;
    } else {
        printf("ok %s: %d %s\n", what, (int)got, message);
    }
}

int main(int argc, char **argv) {
    char path[4096];
    char url[256];
    FILE *config;
    netunnel_server_options *server_options;
    netunnel_server *server = NULL;
    netunnel_client *client = NULL;
    netunnel_client *unstarted = NULL;
    netunnel_tunnel *tunnel = NULL;
    netunnel_tunnel *refused = NULL;
    char *json = NULL;
    int log_calls = 0;
    int calls_when_off;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG_DIR\n", argv[0]);
        return 2;
    }
    /* Only port 9 of 127.0.0.1 may be a destination. */
    snprintf(path, sizeof path, "%s/netunnel.conf", argv[1]);
    config = fopen(path, "w");
    if (config == NULL) {
        perror("config");
        return 2;
    }
    fputs("{\"allowed_tunnel_destinations\": {\"127.0.0.1\": \"9\"}}", config);
    fclose(config);

    /* NULL handles and arguments are a code, not a crash; freeing NULL is fine. */
    expect("connect(NULL)", netunnel_client_connect(NULL), NETUNNEL_NULL_ARGUMENT);
    expect("tunnel_stop(NULL)", netunnel_tunnel_stop(NULL, true), NETUNNEL_NULL_ARGUMENT);
    expect("server_start(NULL)", netunnel_server_start(NULL, &server), NETUNNEL_NULL_ARGUMENT);
    expect("client_new(NULL url)", netunnel_client_new(NULL, NULL, &client), NETUNNEL_NULL_ARGUMENT);
    expect("client_metrics(NULL)", netunnel_client_metrics(NULL, &json), NETUNNEL_NULL_ARGUMENT);
    expect("server_metrics(NULL)", netunnel_server_metrics(NULL, &json), NETUNNEL_NULL_ARGUMENT);
    netunnel_client_free(NULL);
    netunnel_server_free(NULL);
    netunnel_tunnel_free(NULL);
    netunnel_string_free(NULL);
    netunnel_client_options_free(NULL);
    netunnel_server_options_free(NULL);
    if (netunnel_server_port(NULL) != 0 || netunnel_server_url(NULL) != NULL ||
        netunnel_tunnel_is_running(NULL)) {
        fprintf(stderr, "FAIL accessors of NULL handles\n");
        failures++;
    }

    /* A URL the library cannot use. */
    expect("client_new(ftp://)", netunnel_client_new("ftp://127.0.0.1:1", NULL, &client),
           NETUNNEL_CONFIG);
    expect("client_new(not a url)", netunnel_client_new("not a url", NULL, &client),
           NETUNNEL_CONFIG);

    expect("a log level outside the enum", netunnel_set_log_callback(on_log, &log_calls, 42),
           NETUNNEL_INVALID_ARGUMENT);
    expect("log callback", netunnel_set_log_callback(on_log, &log_calls, NETUNNEL_LOG_INFO),
           NETUNNEL_OK);
    server_options = netunnel_server_options_new();
    netunnel_server_options_set_port(server_options, 0);
    netunnel_server_options_set_environment(server_options, false);
    netunnel_server_options_set_config_path(server_options, path);
    expect("heartbeat 0", netunnel_server_options_set_heartbeat_ms(server_options, 0),
           NETUNNEL_INVALID_ARGUMENT);
    expect("server_start", netunnel_server_start(server_options, &server), NETUNNEL_OK);
    netunnel_server_options_free(server_options);
    if (server == NULL) {
        return 1;
    }
    snprintf(url, sizeof url, "%s", netunnel_server_url(server));
    if (__atomic_load_n(&server_records, __ATOMIC_SEQ_CST) == 0 ||
        __atomic_load_n(&records_with_instance, __ATOMIC_SEQ_CST) !=
            __atomic_load_n(&server_records, __ATOMIC_SEQ_CST)) {
        fprintf(stderr, "FAIL the server's start was not logged with its instance (%d of %d)\n",
                records_with_instance, server_records);
        failures++;
    }
    /* Off again: once this returns, the callback is not called any more. */
    expect("log callback off", netunnel_set_log_callback(NULL, NULL, NETUNNEL_LOG_OFF), NETUNNEL_OK);
    calls_when_off = __atomic_load_n(&log_calls, __ATOMIC_SEQ_CST);

    /* Wrong order: a tunnel on a client that never connected. */
    expect("client_new", netunnel_client_new(url, NULL, &unstarted), NETUNNEL_OK);
    expect("open before connect",
           netunnel_client_open_forward(unstarted, NULL, 0, "127.0.0.1", 9, &tunnel),
           NETUNNEL_CHANNEL_CLOSED);
    netunnel_client_free(unstarted);

    expect("client_new", netunnel_client_new(url, NULL, &client), NETUNNEL_OK);
    expect("connect", netunnel_client_connect(client), NETUNNEL_OK);
    /* NULL out-pointers and strings that are not UTF-8: codes, not crashes. */
    expect("open with a NULL out-pointer",
           netunnel_client_open_forward(client, NULL, 0, "127.0.0.1", 9, NULL),
           NETUNNEL_NULL_ARGUMENT);
    expect("list peers into NULL", netunnel_client_list_peers(client, NULL), NETUNNEL_NULL_ARGUMENT);
    expect("version into NULL", netunnel_client_remote_version(client, NULL),
           NETUNNEL_NULL_ARGUMENT);
    expect("an address that is not UTF-8",
           netunnel_client_open_forward(client, NULL, 0, "\xff\xfe", 9, &tunnel),
           NETUNNEL_INVALID_ARGUMENT);
    /* A destination the server's rules refuse. */
    expect("refused destination",
           netunnel_client_open_forward(client, NULL, 0, "127.0.0.1", 10, &refused),
           NETUNNEL_NOT_ALLOWED);
    expect("bad JSON body",
           netunnel_client_request(client, "POST", "/peers", "{not json", &json),
           NETUNNEL_INVALID_ARGUMENT);
    expect("unknown peer", netunnel_client_delete_peer(client, "nobody"), NETUNNEL_NOT_FOUND);
    /* The server checks a new peer: this one is the server itself. */
    expect("register a peer",
           netunnel_client_register_peer(client, "far", url, "{\"token\": \"s3cret\"}", &json),
           NETUNNEL_OK);
    if (json == NULL || strstr(json, "\"far\"") == NULL || strstr(json, "s3cret") != NULL) {
        fprintf(stderr, "FAIL the new peer, its secret masked: %s\n", json ? json : "(null)");
        failures++;
    }
    netunnel_string_free(json);
    json = NULL;
    expect("list peers", netunnel_client_list_peers(client, &json), NETUNNEL_OK);
    if (json == NULL || strstr(json, "\"far\"") == NULL) {
        fprintf(stderr, "FAIL the peer list: %s\n", json ? json : "(null)");
        failures++;
    }
    netunnel_string_free(json);
    json = NULL;
    expect("auth data must be strings",
           netunnel_client_register_peer(client, "odd", "http://127.0.0.1:9", "{\"n\": 1}", &json),
           NETUNNEL_INVALID_ARGUMENT);
    expect("delete the peer", netunnel_client_delete_peer(client, "far"), NETUNNEL_OK);
    expect("open", netunnel_client_open_forward(client, NULL, 0, "127.0.0.1", 9, &tunnel),
           NETUNNEL_OK);
    /* Stopping twice: the second does nothing and succeeds, as NETunnel 1.0.x. */
    expect("stop", netunnel_tunnel_stop(tunnel, true), NETUNNEL_OK);
    expect("stop again", netunnel_tunnel_stop(tunnel, true), NETUNNEL_OK);
    if (netunnel_tunnel_is_running(tunnel)) {
        fprintf(stderr, "FAIL a stopped tunnel says it runs\n");
        failures++;
    }
    netunnel_tunnel_free(tunnel);
    tunnel = NULL;

    /* Wrong order: a tunnel on a closed client. */
    expect("close", netunnel_client_close(client), NETUNNEL_OK);
    expect("close again", netunnel_client_close(client), NETUNNEL_OK);
    expect("open after close",
           netunnel_client_open_forward(client, NULL, 0, "127.0.0.1", 9, &tunnel),
           NETUNNEL_CHANNEL_CLOSED);

    /* The server gone: connecting fails with a connection error. */
    expect("server_stop", netunnel_server_stop(server), NETUNNEL_OK);
    expect("server_stop again", netunnel_server_stop(server), NETUNNEL_OK);
    expect("connect to a stopped server", netunnel_client_connect(client), NETUNNEL_CONNECTION);
    netunnel_client_free(client);
    netunnel_server_free(server);
    /* All of that logged at info level, and none of it reached the callback. */
    if (__atomic_load_n(&log_calls, __ATOMIC_SEQ_CST) != calls_when_off) {
        fprintf(stderr, "FAIL the log callback was called after it was turned off\n");
        failures++;
    }

    if (failures != 0) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    puts("all error paths behaved");
    return 0;
}
