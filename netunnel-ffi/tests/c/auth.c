/*
 * Authentication plugins written in C, on both sides:
 *   ./auth ECHO_PORT
 * The server lets a request in when it carries `X-Token: t0k`, and hands that
 * token out at POST /authenticate for the body {"password": "pw"}. The client
 * plugin posts the password, keeps the token and sends it with every request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netunnel.h>

static int failures = 0;

static void check(const char *what, int ok) {
    if (!ok) {
        fprintf(stderr, "FAIL %s (last error: %s)\n", what, netunnel_last_error());
        failures++;
    } else {
        printf("ok %s\n", what);
    }
}

/* --- the server plugin ------------------------------------------------- */

struct server_state {
    int freed;
    int saw_remote_addr;
};

static bool server_is_authenticated(void *userdata, const netunnel_auth_request *request) {
    struct server_state *state = userdata;
    const char *token = netunnel_auth_request_header(request, "x-token");
    if (netunnel_auth_request_remote_addr(request) != NULL) {
        __atomic_store_n(&state->saw_remote_addr, 1, __ATOMIC_SEQ_CST);
    }
    return token != NULL && strcmp(token, "t0k") == 0;
}

static bool server_authenticate(void *userdata, const netunnel_auth_request *request,
                                netunnel_auth_response *response) {
    size_t length = 0;
    const uint8_t *body = netunnel_auth_request_body(request, &length);
    char text[256];
    (void)userdata;
    /* The body is not NUL-terminated: copy it to look into it. */
    snprintf(text, sizeof text, "%.*s", (int)(length < 255 ? length : 255), (const char *)body);
    if (strstr(text, "\"password\"") != NULL && strstr(text, "\"pw\"") != NULL) {
        return netunnel_auth_response_set(response, 200, "{\"token\": \"t0k\"}") == NETUNNEL_OK;
    }
    return netunnel_auth_response_set(response, 403, "{\"error\": \"wrong password\"}") ==
           NETUNNEL_OK;
}

static void server_free(void *userdata) {
    __atomic_store_n(&((struct server_state *)userdata)->freed, 1, __ATOMIC_SEQ_CST);
}

/* --- the client plugin ------------------------------------------------- */

struct client_state {
    const char *password;
    char token[64];
    int freed;
};

static bool client_authenticate(void *userdata, const netunnel_auth_context *context) {
    struct client_state *state = userdata;
    char body[128];
    char *answer = NULL;
    uint16_t status = 0;
    const char *token;
    snprintf(body, sizeof body, "{\"password\": \"%s\"}", state->password);
    if (strncmp(netunnel_auth_context_server_url(context), "http://127.0.0.1:", 17) != 0) {
        netunnel_auth_context_set_error(context, "unexpected server URL");
        return false;
    }
    if (netunnel_auth_context_request(context, "POST", "/authenticate", body, &status, &answer) !=
        NETUNNEL_OK) {
        netunnel_auth_context_set_error(context, netunnel_last_error());
        return false;
    }
    /* The answer is {"token": "..."}, spaced or not. */
    token = strstr(answer, "\"token\"");
    token = token != NULL ? strchr(token + 7, '"') : NULL;
    if (status != 200 || token == NULL) {
        netunnel_auth_context_set_error(context, "the server would not give a token");
        netunnel_string_free(answer);
        return false;
    }
    snprintf(state->token, sizeof state->token, "%.*s", (int)strcspn(token + 1, "\""), token + 1);
    netunnel_string_free(answer);
    return true;
}

static bool client_is_authenticated(void *userdata) {
    return ((struct client_state *)userdata)->token[0] != '\0';
}

static bool client_headers(void *userdata, netunnel_headers *headers) {
    return netunnel_headers_add(headers, "X-Token", ((struct client_state *)userdata)->token) ==
           NETUNNEL_OK;
}

static void client_free(void *userdata) {
    __atomic_store_n(&((struct client_state *)userdata)->freed, 1, __ATOMIC_SEQ_CST);
}

/* free_userdata comes once the library's last task let go: wait up to 5 s. */
static int released(int *freed) {
    int waited;
    for (waited = 0; !__atomic_load_n(freed, __ATOMIC_SEQ_CST) && waited < 500; waited++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return __atomic_load_n(freed, __ATOMIC_SEQ_CST) == 1;
}

static netunnel_client *client_with(const char *url, struct client_state *state) {
    static const netunnel_client_auth_callbacks callbacks = {
        client_authenticate, client_is_authenticated, client_headers, client_free};
    netunnel_client_options *options = netunnel_client_options_new();
    netunnel_client *client = NULL;
    if (state != NULL) {
        check("client plugin set", netunnel_client_options_set_auth(options, &callbacks, state) ==
                                       NETUNNEL_OK);
    }
    check("client made", netunnel_client_new(url, options, &client) == NETUNNEL_OK);
    netunnel_client_options_free(options);
    return client;
}

int main(int argc, char **argv) {
    static const netunnel_server_auth_callbacks server_callbacks = {
        server_is_authenticated, server_authenticate, server_free};
    static const netunnel_server_auth_callbacks incomplete = {NULL, server_authenticate, NULL};
    struct server_state server_state = {0, 0};
    struct client_state good = {"pw", "", 0};
    struct client_state wrong = {"not-it", "", 0};
    netunnel_server_options *options = netunnel_server_options_new();
    netunnel_server *server = NULL;
    netunnel_client *client;
    netunnel_tunnel *tunnel = NULL;
    netunnel_result code;
    char url[128];

    if (argc < 2) {
        fprintf(stderr, "usage: %s ECHO_PORT\n", argv[0]);
        return 2;
    }
    check("an incomplete table is refused",
          netunnel_server_options_set_auth(options, &incomplete, NULL) ==
              NETUNNEL_INVALID_ARGUMENT);
    netunnel_server_options_set_port(options, 0);
    netunnel_server_options_set_environment(options, false);
    check("server plugin set",
          netunnel_server_options_set_auth(options, &server_callbacks, &server_state) ==
              NETUNNEL_OK);
    check("server started", netunnel_server_start(options, &server) == NETUNNEL_OK);
    netunnel_server_options_free(options);
    if (server == NULL) {
        return 1;
    }
    snprintf(url, sizeof url, "%s", netunnel_server_url(server));

    /* No plugin: refused. */
    client = client_with(url, NULL);
    code = netunnel_client_connect(client);
    check("without a plugin the server refuses", code == NETUNNEL_UNAUTHORIZED);
    netunnel_client_free(client);

    /* A plugin that fails: its own reason comes back. */
    client = client_with(url, &wrong);
    code = netunnel_client_connect(client);
    check("a failing plugin is NETUNNEL_PLUGIN", code == NETUNNEL_PLUGIN);
    check("with the plugin's reason",
          strstr(netunnel_last_error(), "would not give a token") != NULL);
    netunnel_client_free(client);
    check("the client's userdata was released", released(&wrong.freed));

    /* The right password: a tunnel that carries data. */
    client = client_with(url, &good);
    check("connected with the plugin", netunnel_client_connect(client) == NETUNNEL_OK);
    check("tunnel opened",
          netunnel_client_open_forward(client, NULL, 0, "127.0.0.1",
                                       (uint16_t)strtoul(argv[1], NULL, 10), &tunnel) ==
              NETUNNEL_OK);
    check("the token was kept", strcmp(good.token, "t0k") == 0);
    check("the server saw the client's address",
          __atomic_load_n(&server_state.saw_remote_addr, __ATOMIC_SEQ_CST) == 1);
    netunnel_tunnel_free(tunnel);
    netunnel_client_free(client);
    check("the client's userdata was released", released(&good.freed));

    netunnel_server_free(server);
    check("the server's userdata was released", released(&server_state.freed));
    if (failures != 0) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    puts("plugins on both sides behaved");
    return 0;
}
