/*
 * The "c epoll floor" of tests/bench/socketmap.mjs: a server that does nothing but answer every
 * read with the same bytes, in C over epoll, one thread. No server in any language can answer a
 * query with less work on this machine (one read and one write system call, the kernel's loopback
 * TCP), so what it reaches with the same load generator in the same run bounds what any socketmap
 * could reach here: the figure that tells a target the machine cannot meet from one our code misses.
 * Built by the bench with `cc -O2` into target/bench/.
 *
 *   socketmap-floor REPLY        listens on 127.0.0.1, an ephemeral port, printed on stdout
 *
 * Loopback only; runs until SIGTERM (the bench stops it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: socketmap-floor REPLY\n");
    return 2;
  }
  const char *reply = argv[1];
  size_t reply_len = strlen(reply);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1024) != 0) {
    perror("socketmap-floor: listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = listener };
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event events[256];
  char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      perror("socketmap-floor: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int c;
        while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        /* one reply per read, as the Node floor does; a short write is not retried (the replies
           are a few dozen bytes and the load generator has one request outstanding) */
        if (write(fd, reply, reply_len) < 0 && errno != EAGAIN) close(fd);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);
      }
    }
  }
}
