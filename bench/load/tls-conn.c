/*
 * New TLS connections per second: every request on its own connection, with a full handshake or a
 * resumed one (the last session ticket of the loop's previous connection). Built by load/tls-conn.ts with
 * `cc -O2 ... -lssl -lcrypto` at bench time; load/tls-conn-client.ts is the Node fallback.
 *
 * Usage: tls-conn <port> <path> <connections> <duration-s> <full|resumed>
 *
 * wrk cannot make full handshakes: it reuses one SSL object per connection slot (SSL_clear keeps the
 * session), so with `Connection: close` every reconnect offers the last ticket. This client does both
 * modes with the same code, so the two figures differ only in the handshake. `connections` loops run
 * on one epoll thread; each connects, sends one GET with `Connection: close`, reads to the server's
 * close, checks the status line and starts over. Latency is connect to close. It offers exactly what
 * every target is configured with (TLS 1.3, TLS_AES_128_GCM_SHA256, P-256), so there is no
 * HelloRetryRequest, and it does not verify the certificate (as wrk).
 *
 * Prints one line: LEGATE_BENCH_JSON {...}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { HANDSHAKE, WRITING, READING };

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    uint32_t events;
    SSL_SESSION *session;
    uint64_t t0;
    char head[16];
    size_t headlen;
    int retry; /* connect failed at once: started again from the main loop, not recursively */
};

static SSL_CTX *ctx;
static int ep;
static struct sockaddr_in addr;
static char request[512];
static size_t request_len;
static int resumed_mode;
static int stopping;
static int running;
static uint64_t ok, bad_status, socket_errors, reused, attempts;
static double *lat_us;
static size_t lat_len, lat_cap;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void want(struct conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void start(struct conn *c);

/* TLS 1.3 tickets arrive after the handshake; OpenSSL hands each one here. Keeping it takes ownership. */
static int on_new_session(SSL *ssl, SSL_SESSION *session) {
    struct conn *c = SSL_get_app_data(ssl);
    if (c->session != NULL) SSL_SESSION_free(c->session);
    c->session = session;
    return 1;
}

static void finish(struct conn *c, int failed) {
    if (failed || c->headlen == 0) {
        socket_errors++;
    } else if (c->headlen >= 12 && memcmp(c->head, "HTTP/1.1 200", 12) == 0) {
        ok++;
        if (lat_len == lat_cap) {
            lat_cap = lat_cap * 2;
            lat_us = realloc(lat_us, lat_cap * sizeof(double));
        }
        lat_us[lat_len++] = (double) (now_ns() - c->t0) / 1000.0;
    } else {
        bad_status++;
    }
    /* Freeing an SSL that was not shut down marks its session not resumable (ssl_clear_bad_session),
     * and that is the session this loop keeps: after a good exchange, call it shut down. */
    if (!failed) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c->ssl);
    c->ssl = NULL;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (stopping) running--;
    else start(c);
}

/* Moves the connection on as far as it can; returns when OpenSSL wants the socket or it is done. */
static void drive(struct conn *c) {
    int r = 0;
    char buf[16384];
    for (;;) {
        switch (c->state) {
        case HANDSHAKE:
            r = SSL_do_handshake(c->ssl);
            if (r == 1) {
                if (SSL_session_reused(c->ssl)) reused++;
                c->state = WRITING;
                continue;
            }
            break;
        case WRITING:
            r = SSL_write(c->ssl, request, (int) request_len);
            if (r > 0) {
                c->state = READING;
                continue;
            }
            break;
        case READING:
            r = SSL_read(c->ssl, buf, sizeof buf);
            if (r > 0) {
                size_t take = sizeof c->head - c->headlen;
                if (take > (size_t) r) take = (size_t) r;
                memcpy(c->head + c->headlen, buf, take);
                c->headlen += take;
                continue;
            }
            break;
        }
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) {
            want(c, EPOLLIN);
            return;
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            want(c, EPOLLOUT);
            return;
        }
        ERR_clear_error();
        /* The server closes after the response: close_notify or a plain EOF both end a good exchange. */
        int eof = err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && r == 0);
        finish(c, !(c->state == READING && eof));
        return;
    }
}

static void start(struct conn *c) {
    attempts++;
    c->headlen = 0;
    c->state = HANDSHAKE;
    c->t0 = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *) &addr, sizeof addr) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        socket_errors++;
        c->fd = -1;
        if (stopping) running--;
        else c->retry = 1;
        return;
    }
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_app_data(c->ssl, c);
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (resumed_mode && c->session != NULL) SSL_set_session(c->ssl, c->session);
    c->events = EPOLLOUT;
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double pct(double p) {
    if (lat_len == 0) return 0;
    size_t i = (size_t) (p / 100.0 * (double) lat_len);
    if (i >= lat_len) i = lat_len - 1;
    return lat_us[i];
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s <port> <path> <connections> <duration-s> <full|resumed>\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int connections = atoi(argv[3]);
    double duration_s = atof(argv[4]);
    resumed_mode = strcmp(argv[5], "resumed") == 0;
    request_len = (size_t) snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", argv[2]);

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1 ||
        SSL_CTX_set1_groups_list(ctx, "P-256") != 1) {
        fprintf(stderr, "tls-conn: OpenSSL refused the TLS parameters\n");
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* Each loop keeps its own last ticket (on_new_session); OpenSSL's client cache stays empty. */
    if (resumed_mode) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(0);
    lat_cap = 1 << 16;
    lat_us = malloc(lat_cap * sizeof(double));

    struct conn *conns = calloc((size_t) connections, sizeof *conns);
    uint64_t t_start = now_ns();
    uint64_t deadline = t_start + (uint64_t) (duration_s * 1e9);
    running = connections;
    for (int i = 0; i < connections; i++) start(&conns[i]);

    struct epoll_event events[256];
    while (running > 0) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd >= 0) drive(c);
        }
        for (int i = 0; i < connections; i++) {
            if (!conns[i].retry) continue;
            conns[i].retry = 0;
            if (stopping) running--;
            else start(&conns[i]);
        }
        if (!stopping && now_ns() >= deadline) stopping = 1;
        /* Past the deadline plus 5 s, whatever is still open counts as an error. */
        if (stopping && now_ns() >= deadline + 5000000000u) {
            socket_errors += (uint64_t) running;
            break;
        }
    }
    double elapsed_us = (double) (now_ns() - t_start) / 1000.0;
    qsort(lat_us, lat_len, sizeof(double), cmp_double);
    /* The client's own CPU: shows whether it, rather than the target, was the limit. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
        (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
    printf("LEGATE_BENCH_JSON {\"requests\":%llu,\"ok\":%llu,\"bad_status\":%llu,\"socket_errors\":%llu,"
        "\"reused\":%llu,\"attempts\":%llu,\"duration_us\":%.0f,\"client_cpu_s\":%.3f,"
        "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f}}\n",
        (unsigned long long) (ok + bad_status), (unsigned long long) ok, (unsigned long long) bad_status,
        (unsigned long long) socket_errors, (unsigned long long) reused, (unsigned long long) attempts,
        elapsed_us, cpu_s, pct(50), pct(99));
    return 0;
}
