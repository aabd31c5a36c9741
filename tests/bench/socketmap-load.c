/*
 * The load generator of tests/bench/socketmap.mjs: a small epoll client, so that the client's own
 * CPU time (it shares the two cores with the server it measures) is a few microseconds a query
 * and the same for every server. Built by the bench with `cc -O2` into target/bench/.
 *
 *   socketmap-load PORT CONNECTIONS SECONDS WARMUP_MS REQUEST
 *
 * Opens CONNECTIONS TCP connections to 127.0.0.1:PORT (loopback only), each with one request
 * outstanding at a time (as Postfix's socketmap client does): REQUEST framed as a netstring, the
 * next one sent when the whole reply netstring has come. Replies are framed properly (length,
 * data, ","); every reply must have the length of the first (the same key gets the same answer),
 * else the run fails. Counts replies for SECONDS after WARMUP_MS and prints one JSON line:
 *   {"queries":N,"seconds":S,"p50":MS,"p99":MS,"clientCpuUs":US,"reply":"..."}
 * clientCpuUs: this process's CPU time (user + system) per counted query.
 * Bounded: it stops by itself after WARMUP_MS + SECONDS (+ 5 s for connecting), whatever the server does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY 100100

struct conn {
  int fd;
  uint64_t sent_ns;
  /* reply framing */
  long want;   /* data length announced, -1 while reading digits */
  long digits; /* value so far */
  long got;    /* data bytes read */
  int comma;   /* waiting for ',' */
};

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  fprintf(stderr, "socketmap-load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static char *message;
static size_t message_len;
static char first_reply[MAX_REPLY + 1];
static long first_len = -1;

static void send_request(struct conn *c) {
  c->sent_ns = now_ns();
  ssize_t n = write(c->fd, message, message_len);
  if (n != (ssize_t)message_len) die("write (a short write of a small request)");
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: socketmap-load PORT CONNECTIONS SECONDS WARMUP_MS REQUEST\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int nconn = atoi(argv[2]);
  double seconds = atof(argv[3]);
  long warmup_ms = atol(argv[4]);
  const char *request = argv[5];
  if (port <= 0 || port > 65535 || nconn <= 0 || nconn > 10000 || seconds <= 0 || seconds > 600 || warmup_ms < 0) {
    fprintf(stderr, "socketmap-load: bad arguments\n");
    return 2;
  }
  size_t rl = strlen(request);
  message = malloc(rl + 32);
  message_len = (size_t)sprintf(message, "%zu:%s,", rl, request);

  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    conns[i].want = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }

  size_t cap = 1 << 20, n = 0;
  uint32_t *lat = malloc(cap * sizeof *lat); /* latencies in ns (a reply over 4 s is counted as 4.29 s) */
  uint64_t start = now_ns();
  uint64_t count_from = start + (uint64_t)warmup_ms * 1000000u;
  uint64_t count_until = count_from + (uint64_t)(seconds * 1e9);
  double cpu_from = -1, cpu_until = -1;
  int counting = 0;

  for (int i = 0; i < nconn; i++) send_request(&conns[i]);

  static char buf[65536];
  struct epoll_event events[256];
  for (;;) {
    uint64_t t = now_ns();
    if (!counting && t >= count_from) {
      counting = 1;
      cpu_from = cpu_seconds();
    }
    if (t >= count_until) break;
    int timeout_ms = (int)((count_until - t) / 1000000u) + 1;
    int ne = epoll_wait(ep, events, 256, timeout_ms);
    if (ne < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < ne; e++) {
      struct conn *c = events[e].data.ptr;
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r == 0) {
        fprintf(stderr, "socketmap-load: the server closed a connection\n");
        return 1;
      }
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        die("read");
      }
      for (ssize_t i = 0; i < r; i++) {
        unsigned char b = (unsigned char)buf[i];
        if (c->want < 0) {
          if (b >= '0' && b <= '9') {
            c->digits = c->digits * 10 + (b - '0');
            if (c->digits > MAX_REPLY) {
              fprintf(stderr, "socketmap-load: a reply longer than %d bytes\n", MAX_REPLY);
              return 1;
            }
          } else if (b == ':') {
            c->want = c->digits;
            c->got = 0;
            c->comma = c->want == 0;
          } else {
            fprintf(stderr, "socketmap-load: not a netstring from the server\n");
            return 1;
          }
        } else if (!c->comma) {
          long take = c->want - c->got;
          if (take > r - i) take = (long)(r - i);
          if (first_len < 0 && c == &conns[0]) { /* only the very first reply is kept */
            memcpy(first_reply + c->got, buf + i, (size_t)take);
          }
          c->got += take;
          i += take - 1;
          if (c->got == c->want) c->comma = 1;
        } else {
          if (b != ',') {
            fprintf(stderr, "socketmap-load: a reply without its ','\n");
            return 1;
          }
          uint64_t done = now_ns();
          if (first_len < 0 && c == &conns[0]) {
            first_len = c->want;
            first_reply[first_len] = 0;
          } else if (first_len >= 0 && c->want != first_len) {
            fprintf(stderr, "socketmap-load: a reply of %ld bytes, the first was %ld\n", c->want, first_len);
            return 1;
          }
          if (counting && done < count_until) {
            if (n == cap) {
              cap *= 2;
              lat = realloc(lat, cap * sizeof *lat);
              if (!lat) die("realloc");
            }
            uint64_t d = done - c->sent_ns;
            lat[n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
          }
          c->want = -1;
          c->digits = 0;
          c->comma = 0;
          send_request(c);
        }
      }
    }
  }
  cpu_until = cpu_seconds();
  double elapsed = (double)(count_until - count_from) / 1e9;
  qsort(lat, n, sizeof *lat, cmp_u32);
  double p50 = n ? lat[n / 2] / 1e6 : -1, p99 = n ? lat[(size_t)(n * 0.99)] / 1e6 : -1;
  printf("{\"queries\":%zu,\"seconds\":%.6f,\"p50\":%.4f,\"p99\":%.4f,\"clientCpuUs\":%.3f,\"reply\":\"", n, elapsed, p50, p99,
         n ? (cpu_until - cpu_from) / (double)n * 1e6 : -1.0);
  for (long i = 0; i < first_len; i++) {
    unsigned char ch = (unsigned char)first_reply[i];
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
    else putchar(ch);
  }
  printf("\"}\n");
  for (int i = 0; i < nconn; i++) close(conns[i].fd);
  return 0;
}
