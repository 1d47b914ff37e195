/*
 * sse_load: many server-sent-event subscribers in one thread (epoll, non-blocking).
 *
 * Opens N HTTP/1.1 connections to GET PATH on HOST:PORT, spreading the source
 * addresses over 127.0.0.2..127.0.0.254 (one address runs out of ephemeral ports),
 * decodes chunked transfer coding when the response uses it (ticker does, Nchan
 * sends a plain body), and parses the SSE stream incrementally (frames may split
 * anywhere across reads).
 *
 * Messages are keyed on a sequence number that the publisher puts into the data:
 * the first "[seq:<digits>]" in an event's data lines. That works the same for
 * every server (ticker's `event: publish` frames with ids <ms>-<seq>, Nchan's
 * unnamed events with ids <time>:<tag>). An event counts as a message when it is
 * unnamed or named `publish` and carries a marker; `event: reset` (ticker's
 * snapshot, which quotes older items) is counted apart, never as a message. For
 * every message it records the CLOCK_REALTIME time (microseconds) at which the
 * read() carrying the frame's end returned. Each connection remembers the id: of
 * the last event it got, for a resume with Last-Event-ID.
 *
 * A connection is ready when its response head (200) has arrived.
 *
 * Protocol with the driver (benchmarks/fanout.py):
 *   stdout  "READY <ready> <seconds> <failed> <resets>" once every connection of the
 *           phase has its response head or failed (or the connect timeout passed).
 *   stdin   "WAIT <m> <timeout_seconds>": once every live ready connection has m
 *           messages (or at the timeout) print "COMPLETE <1|0> <comments>".
 *           "CLOSE": close every open connection (the client's choice: not counted as
 *           dropped by the server); print "CLOSED <count>".
 *           "RESUME": reconnect every connection that CLOSE closed, each sending
 *           "Last-Event-ID: <the id of the last event it got>"; then "READY ..." again.
 *           "QUIT" or EOF: finish.
 *   finish  writes to OUTFILE, per connection, "CONN <conn> <ready> <open>" and then
 *           "RECV <conn> <seq> <t_us>" per message in the order received, then prints
 *           "STATS key=value ..." on stdout and exits 0.
 *
 * Build: gcc -O2 -Wall -o sse_load sse_load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_IDLE, ST_CONNECTING, ST_HEADERS, ST_BODY, ST_CLOSED, ST_FAILED };
enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END };
enum { EV_NONE, EV_PUBLISH, EV_RESET, EV_OTHER };
enum { BY_FAILURE, BY_SERVER, BY_CLIENT };

#define LINE_KEEP 512 /* data lines of ~350 bytes are kept whole; longer ones only matter
                         for the marker, which the publisher puts in the first 512 bytes */
#define ID_KEEP 48
#define HDR_KEEP 4096
#define STDIN_TAG ((uint64_t)-1)
#define MARKER "[seq:"

typedef struct {
    uint32_t seq;
    int64_t t_us;
} rec_t;

typedef struct {
    int fd;
    uint8_t state;
    uint8_t ready;   /* ever got a response head */
    uint8_t hdr_ok;  /* this connection attempt got its response head */
    uint8_t resume;  /* closed by CLOSE, to reconnect on RESUME */
    uint8_t chunked;
    uint8_t cstate;
    uint64_t crem;   /* chunk bytes left (CH_DATA) or size being parsed (CH_SIZE) */
    /* the request (shared, or this connection's own with Last-Event-ID) */
    char *req;
    int req_len;
    int send_off;
    /* response header block */
    char *hdr;
    int hdr_len;
    /* SSE line parser */
    char line[LINE_KEEP];
    int line_len;
    uint8_t last_cr;
    uint8_t ev_type;
    uint8_t ev_has_seq;
    uint8_t ev_id_len;  /* 0: no id: line in this event; 255: too long */
    uint8_t last_id_len;
    uint8_t have_last;
    uint32_t ev_seq, last_seq;
    char ev_id[ID_KEEP];
    char last_id[ID_KEEP];
    /* records */
    rec_t *recs;
    int nrec, cap;
    int dups, ooo, bad;
} conn_t;

static conn_t *conns;
static int n_conns;
static int epfd;
static struct sockaddr_in server_addr;
static char request[768];
static int request_len;

/* the current connect phase: the first connect, or a RESUME */
static int *todo;
static int n_todo, todo_pos;
static int phase_ready, phase_failed, pending;
static int64_t phase_t0;
static long long phase_resets_base;

static int n_failed, n_closed_by_server, n_read_errors;
static long long n_events, n_comments, n_resets;
static int64_t now_batch_us; /* receive time of the read being parsed */

static int64_t now_us(int clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit");
        if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < n_conns + 16)
            fprintf(stderr, "sse_load: RLIMIT_NOFILE %llu is below %d connections\n",
                    (unsigned long long)rl.rlim_cur, n_conns);
    }
}

static void conn_close(conn_t *c, int by) {
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (!c->hdr_ok) { /* still in its handshake or waiting for the head */
        n_failed++;
        phase_failed++;
        pending--;
        c->state = ST_FAILED;
    } else if (by == BY_CLIENT) {
        c->state = ST_IDLE;
        c->resume = 1;
    } else {
        n_closed_by_server++;
        c->state = ST_CLOSED;
    }
    c->hdr_ok = 0;
    free(c->hdr);
    c->hdr = NULL;
}

static void record(conn_t *c, uint32_t seq) {
    if (c->have_last) {
        if (seq == c->last_seq)
            c->dups++;
        else if (seq < c->last_seq)
            c->ooo++;
    }
    c->have_last = 1;
    c->last_seq = seq;
    if (c->nrec == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->recs = realloc(c->recs, sizeof(rec_t) * (size_t)c->cap);
        if (!c->recs) die("realloc");
    }
    c->recs[c->nrec++] = (rec_t){seq, now_batch_us};
    n_events++;
}

static void find_marker(conn_t *c, const char *l, int n) {
    const char *m = memmem(l, (size_t)n, MARKER, sizeof MARKER - 1);
    if (!m) return;
    int i = (int)(m - l) + (int)sizeof MARKER - 1, digits = 0;
    uint32_t v = 0;
    while (i < n && l[i] >= '0' && l[i] <= '9' && digits < 9) v = v * 10 + (uint32_t)(l[i++] - '0'), digits++;
    if (digits && i < n && l[i] == ']') {
        c->ev_seq = v;
        c->ev_has_seq = 1;
    }
}

/* One complete line of the event stream (without its terminator). */
static void sse_line(conn_t *c, int overflow) {
    const char *l = c->line;
    int n = c->line_len;
    if (n == 0 && !overflow) { /* blank line: dispatch */
        if (c->ev_id_len) { /* the last event id, for a resume */
            c->last_id_len = c->ev_id_len == 255 ? 0 : c->ev_id_len;
            memcpy(c->last_id, c->ev_id, c->last_id_len);
        }
        if (c->ev_type == EV_RESET) {
            n_resets++;
        } else if (c->ev_type == EV_PUBLISH || c->ev_type == EV_NONE) {
            if (c->ev_has_seq)
                record(c, c->ev_seq);
            else if (c->ev_type == EV_PUBLISH)
                c->bad++;
        }
        c->ev_type = EV_NONE;
        c->ev_has_seq = 0;
        c->ev_id_len = 0;
        return;
    }
    if (l[0] == ':') {
        n_comments++;
        return;
    }
    if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        if (!c->ev_has_seq) find_marker(c, l + 5, n - 5);
    } else if (n >= 3 && memcmp(l, "id:", 3) == 0) {
        int o = 3;
        if (o < n && l[o] == ' ') o++;
        if (!overflow && n - o > 0 && n - o < ID_KEEP) {
            memcpy(c->ev_id, l + o, (size_t)(n - o));
            c->ev_id_len = (uint8_t)(n - o);
        } else {
            c->ev_id_len = 255;
        }
    } else if (n >= 6 && memcmp(l, "event:", 6) == 0) {
        int o = 6;
        if (o < n && l[o] == ' ') o++;
        if (n - o == 7 && memcmp(l + o, "publish", 7) == 0 && !overflow)
            c->ev_type = EV_PUBLISH;
        else if (n - o == 5 && memcmp(l + o, "reset", 5) == 0 && !overflow)
            c->ev_type = EV_RESET;
        else
            c->ev_type = EV_OTHER;
    }
    /* retry: and anything else are skipped. */
}

/* Feed de-chunked body bytes to the SSE parser. Only the first LINE_KEEP bytes of
 * a line are kept. */
static void sse_feed(conn_t *c, const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        if (ch == '\n' && c->last_cr) { /* the LF of a CRLF pair */
            c->last_cr = 0;
            i++;
            continue;
        }
        c->last_cr = 0;
        if (ch == '\r' || ch == '\n') {
            int overflow = c->line_len > LINE_KEEP;
            if (overflow) c->line_len = LINE_KEEP;
            sse_line(c, overflow);
            c->line_len = 0;
            c->last_cr = ch == '\r';
            i++;
            continue;
        }
        /* the rest of the line up to the next terminator, in one go */
        const char *nl = memchr(p + i, '\n', n - i);
        size_t k = nl ? (size_t)(nl - p) : n;
        const char *cr = memchr(p + i, '\r', k - i);
        if (cr) k = (size_t)(cr - p);
        size_t len = k - i;
        if (c->line_len < LINE_KEEP) {
            size_t room = (size_t)(LINE_KEEP - c->line_len);
            memcpy(c->line + c->line_len, p + i, len < room ? len : room);
        }
        size_t total = (size_t)c->line_len + len; /* line_len > LINE_KEEP marks overflow */
        c->line_len = total > LINE_KEEP ? LINE_KEEP + 1 : (int)total;
        i = k;
    }
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Feed raw body bytes (chunked or not). Returns -1 on a framing error, 1 at the end. */
static int body_feed(conn_t *c, const char *p, size_t n) {
    if (!c->chunked) {
        sse_feed(c, p, n);
        return 0;
    }
    size_t i = 0;
    while (i < n) {
        switch (c->cstate) {
        case CH_SIZE: {
            char ch = p[i++];
            int v = hexval(ch);
            if (v >= 0)
                c->crem = c->crem * 16 + (uint64_t)v;
            else if (ch == '\r')
                c->cstate = CH_SIZE_LF;
            else if (ch == ';' || ch == ' ' || ch == '\t')
                c->cstate = CH_EXT;
            else
                return -1;
            break;
        }
        case CH_EXT:
            if (p[i++] == '\r') c->cstate = CH_SIZE_LF;
            break;
        case CH_SIZE_LF:
            if (p[i++] != '\n') return -1;
            if (c->crem == 0) {
                c->cstate = CH_END;
                return 1;
            }
            c->cstate = CH_DATA;
            break;
        case CH_DATA: {
            size_t k = n - i;
            if (k > c->crem) k = (size_t)c->crem;
            sse_feed(c, p + i, k);
            i += k;
            c->crem -= k;
            if (c->crem == 0) c->cstate = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (p[i++] != '\r') return -1;
            c->cstate = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (p[i++] != '\n') return -1;
            c->cstate = CH_SIZE;
            c->crem = 0;
            break;
        default:
            return 1;
        }
    }
    return 0;
}

/* Response headers; returns -1 on error, 0 while incomplete, 1 once complete
 * (*used: bytes of p that belonged to the head). */
static int headers_feed(conn_t *c, const char *p, size_t n, size_t *used) {
    if (!c->hdr) c->hdr = malloc(HDR_KEEP + 1);
    size_t take = n;
    if ((size_t)c->hdr_len + take > HDR_KEEP) take = HDR_KEEP - (size_t)c->hdr_len;
    memcpy(c->hdr + c->hdr_len, p, take);
    int old = c->hdr_len;
    c->hdr_len += (int)take;
    c->hdr[c->hdr_len] = 0;
    char *end = strstr(c->hdr, "\r\n\r\n");
    if (!end) {
        if (c->hdr_len >= HDR_KEEP) return -1;
        *used = n;
        return 0;
    }
    size_t hlen = (size_t)(end - c->hdr) + 4;
    *used = hlen - (size_t)old;
    if (strncmp(c->hdr, "HTTP/1.1 200", 12) != 0 && strncmp(c->hdr, "HTTP/1.0 200", 12) != 0) {
        char *eol = strstr(c->hdr, "\r\n");
        if (eol) *eol = 0;
        fprintf(stderr, "sse_load: connection %ld: %s\n", (long)(c - conns), c->hdr);
        return -1;
    }
    end[2] = 0; /* keep the last header's CRLF */
    c->chunked = 0;
    for (char *h = strstr(c->hdr, "\r\n"); h && h[2]; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "transfer-encoding:", 18) != 0) continue;
        char *eol = strstr(h + 2, "\r\n");
        char *ck = strcasestr(h + 20, "chunked");
        if (ck && eol && ck < eol) c->chunked = 1;
    }
    free(c->hdr);
    c->hdr = NULL;
    c->hdr_len = 0;
    c->state = ST_BODY;
    c->cstate = CH_SIZE;
    c->crem = 0;
    c->hdr_ok = 1;
    c->ready = 1;
    phase_ready++;
    pending--;
    return 1;
}

static void start_conn(int i) {
    conn_t *c = &conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(2 + i % 253)); /* 127.0.0.2..254 */
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) die("bind");
    /* a fresh parser; what was received before (records, last id) stays */
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->hdr_ok = 0;
    c->resume = 0;
    c->send_off = 0;
    c->hdr_len = 0;
    c->line_len = 0;
    c->last_cr = 0;
    c->ev_type = EV_NONE;
    c->ev_has_seq = 0;
    c->ev_id_len = 0;
    pending++;
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 &&
        errno != EINPROGRESS) {
        fprintf(stderr, "sse_load: connect %d: %s\n", i, strerror(errno));
        conn_close(c, BY_FAILURE);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
}

static void on_writable(conn_t *c, int i) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fprintf(stderr, "sse_load: connect %d: %s\n", i, strerror(err));
            conn_close(c, BY_FAILURE);
            return;
        }
        c->state = ST_HEADERS;
    }
    while (c->send_off < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->send_off, (size_t)(c->req_len - c->send_off),
                         MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) return;
            conn_close(c, BY_FAILURE);
            return;
        }
        c->send_off += (int)w;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static char rbuf[1 << 16];

static void on_readable(conn_t *c) {
    for (;;) {
        ssize_t r = read(c->fd, rbuf, sizeof rbuf);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (n_read_errors++ < 5) /* the first few; the count is in STATS */
                fprintf(stderr, "sse_load: read on connection %ld: %s\n", (long)(c - conns),
                        strerror(errno));
            conn_close(c, BY_SERVER);
            return;
        }
        if (r == 0) {
            conn_close(c, BY_SERVER);
            return;
        }
        now_batch_us = now_us(CLOCK_REALTIME);
        const char *p = rbuf;
        size_t n = (size_t)r;
        if (c->state == ST_HEADERS) {
            size_t used = 0;
            int h = headers_feed(c, p, n, &used);
            if (h < 0) {
                conn_close(c, BY_FAILURE);
                return;
            }
            p += used;
            n -= used;
        }
        if (c->state == ST_BODY && n > 0) {
            int b = body_feed(c, p, n);
            if (b != 0) {
                if (b < 0) fprintf(stderr, "sse_load: bad chunk framing on %ld\n", (long)(c - conns));
                conn_close(c, BY_SERVER);
                return;
            }
        }
        if ((size_t)r < sizeof rbuf) return;
    }
}

static void begin_phase(void) {
    todo_pos = 0;
    phase_ready = phase_failed = 0;
    phase_t0 = now_us(CLOCK_MONOTONIC);
    phase_resets_base = n_resets;
}

static void close_all(void) {
    int closed = 0;
    for (int i = 0; i < n_conns; i++) {
        conn_t *c = &conns[i];
        if (c->fd >= 0 && c->hdr_ok) {
            conn_close(c, BY_CLIENT);
            closed++;
        }
    }
    printf("CLOSED %d\n", closed);
}

static void resume_all(void) {
    n_todo = 0;
    for (int i = 0; i < n_conns; i++) {
        conn_t *c = &conns[i];
        if (!c->resume) continue;
        todo[n_todo++] = i;
        if (c->req != request) free(c->req);
        c->req = request;
        c->req_len = request_len;
        if (c->last_id_len) {
            /* the shared request with one more header before its final CRLF */
            int len = request_len + 16 + c->last_id_len;
            char *own = malloc((size_t)len + 1);
            if (!own) die("malloc");
            memcpy(own, request, (size_t)request_len - 2);
            int o = request_len - 2;
            o += sprintf(own + o, "Last-Event-ID: %.*s\r\n\r\n", c->last_id_len, c->last_id);
            c->req = own;
            c->req_len = o;
        }
    }
    begin_phase();
}

static void write_results(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) die(path);
    static char fbuf[1 << 20];
    setvbuf(f, fbuf, _IOFBF, sizeof fbuf);
    long long dups = 0, ooo = 0, bad = 0;
    for (int i = 0; i < n_conns; i++) {
        conn_t *c = &conns[i];
        dups += c->dups;
        ooo += c->ooo;
        bad += c->bad;
        fprintf(f, "CONN %d %d %d\n", i, c->ready, c->fd >= 0);
        for (int k = 0; k < c->nrec; k++)
            fprintf(f, "RECV %d %u %lld\n", i, c->recs[k].seq, (long long)c->recs[k].t_us);
    }
    if (fclose(f) != 0) die("fclose");
    int live = 0, ready = 0;
    for (int i = 0; i < n_conns; i++) {
        live += conns[i].fd >= 0 && conns[i].hdr_ok;
        ready += conns[i].ready;
    }
    printf("STATS connections=%d ready=%d live=%d failed=%d closed_by_server=%d events=%lld "
           "resets=%lld comments=%lld dups=%lld out_of_order=%lld no_marker=%lld read_errors=%d\n",
           n_conns, ready, live, n_failed, n_closed_by_server, n_events, n_resets, n_comments,
           dups, ooo, bad, n_read_errors);
    fflush(stdout);
}

static void usage(void) {
    fprintf(stderr,
            "usage: sse_load -p PORT -n N -o OUTFILE [-h HOST] [-u PATH] [-c MAX_PENDING]\n"
            "                [-t CONNECT_TIMEOUT_S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/api/v1/stream?channels=main", *out = NULL;
    int port = 0, max_pending = 256;
    double connect_timeout = 120;
    int opt;
    while ((opt = getopt(argc, argv, "h:p:n:u:o:c:t:")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': n_conns = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'o': out = optarg; break;
        case 'c': max_pending = atoi(optarg); break;
        case 't': connect_timeout = atof(optarg); break;
        default: usage();
        }
    }
    if (!port || n_conns <= 0 || !out || max_pending <= 0 || strlen(path) > 400) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();

    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1) usage();
    request_len = snprintf(request, sizeof request,
                           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                           "Cache-Control: no-cache\r\nUser-Agent: sse_load\r\n\r\n",
                           path, host, port);

    conns = calloc((size_t)n_conns, sizeof(conn_t));
    todo = calloc((size_t)n_conns, sizeof(int));
    if (!conns || !todo) die("calloc");
    for (int i = 0; i < n_conns; i++) {
        conns[i].fd = -1;
        conns[i].req = request;
        conns[i].req_len = request_len;
        todo[i] = i;
    }
    n_todo = n_conns;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev) != 0) die("epoll_ctl stdin");

    struct epoll_event evs[1024];
    begin_phase();
    int announced = 0;
    int wait_target = -1;
    int64_t wait_deadline = 0;
    char cmd[256];
    int cmd_len = 0;
    int finish = 0;

    while (!finish) {
        while (todo_pos < n_todo && pending < max_pending) start_conn(todo[todo_pos++]);
        int64_t mono = now_us(CLOCK_MONOTONIC);
        if (!announced && (phase_ready + phase_failed >= n_todo ||
                           mono - phase_t0 > (int64_t)(connect_timeout * 1e6))) {
            printf("READY %d %.3f %d %lld\n", phase_ready, (mono - phase_t0) / 1e6,
                   n_todo - phase_ready, n_resets - phase_resets_base);
            announced = 1;
        }
        if (wait_target >= 0) {
            int done = 1;
            for (int i = 0; i < n_conns && done; i++)
                if (conns[i].fd >= 0 && conns[i].hdr_ok && conns[i].nrec < wait_target) done = 0;
            if (done || mono > wait_deadline) {
                printf("COMPLETE %d %lld\n", done, n_comments);
                wait_target = -1;
            }
        }
        int k = epoll_wait(epfd, evs, 1024, wait_target >= 0 || !announced ? 5 : 50);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int e = 0; e < k; e++) {
            uint64_t tag = evs[e].data.u64;
            if (tag == STDIN_TAG) {
                ssize_t r = read(0, cmd + cmd_len, sizeof cmd - 1 - (size_t)cmd_len);
                if (r == 0) {
                    finish = 1;
                    break;
                }
                if (r < 0) continue;
                cmd_len += (int)r;
                cmd[cmd_len] = 0;
                char *nl;
                while ((nl = strchr(cmd, '\n'))) {
                    *nl = 0;
                    int m;
                    double to;
                    if (sscanf(cmd, "WAIT %d %lf", &m, &to) == 2) {
                        wait_target = m;
                        wait_deadline = now_us(CLOCK_MONOTONIC) + (int64_t)(to * 1e6);
                    } else if (strncmp(cmd, "CLOSE", 5) == 0) {
                        close_all();
                    } else if (strncmp(cmd, "RESUME", 6) == 0) {
                        resume_all();
                        announced = 0;
                    } else if (strncmp(cmd, "QUIT", 4) == 0) {
                        finish = 1;
                    }
                    int rest = cmd_len - (int)(nl + 1 - cmd);
                    memmove(cmd, nl + 1, (size_t)rest + 1);
                    cmd_len = rest;
                }
                if (cmd_len >= (int)sizeof cmd - 1) cmd_len = 0;
                continue;
            }
            conn_t *c = &conns[tag];
            if (c->fd < 0) continue;
            uint32_t ev = evs[e].events;
            if (ev & EPOLLOUT) on_writable(c, (int)tag);
            if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                if (c->state == ST_CONNECTING) {
                    on_writable(c, (int)tag);
                    if (c->fd < 0) continue;
                }
                on_readable(c);
            }
        }
    }
    write_results(out);
    return 0;
}
