/*
 * tests/tools/relay.c — a TCP relay on loopback that can freeze or cut the traffic it carries.
 *
 *   relay LISTEN_PORT TARGET_PORT      (both on 127.0.0.1; prints "ready" when listening)
 *   kill -USR1: freeze — stop moving bytes either way (connections stay open); again: thaw
 *   kill -USR2: cut — reset every connection it carries
 *
 * The fault tests put it between ferry and PostgreSQL to play a frozen server
 * or a network that drops connections.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAIRS_MAX 128

static volatile sig_atomic_t frozen, cut_requested;

static void on_usr1(int sig) { (void)sig; frozen = !frozen; }
static void on_usr2(int sig) { (void)sig; cut_requested = 1; }

static int fds[PAIRS_MAX][2]; /* client, server; -1 when unused */

static void close_pair(int i, int hard)
{
    for (int s = 0; s < 2; s++) {
        if (fds[i][s] < 0)
            continue;
        if (hard) {
            struct linger lg = {1, 0}; /* close with RST */
            setsockopt(fds[i][s], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fds[i][s]);
        fds[i][s] = -1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: relay LISTEN_PORT TARGET_PORT\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < PAIRS_MAX; i++)
        fds[i][0] = fds[i][1] = -1;

    struct sockaddr_in listen_addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &listen_addr.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 || listen(lfd, 64) != 0) {
        perror("relay: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    char buf[65536];
    for (;;) {
        if (cut_requested) {
            cut_requested = 0;
            for (int i = 0; i < PAIRS_MAX; i++)
                close_pair(i, 1);
        }
        struct pollfd pfd[1 + 2 * PAIRS_MAX];
        int map[1 + 2 * PAIRS_MAX];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < PAIRS_MAX && !frozen; i++)
            for (int s = 0; s < 2; s++)
                if (fds[i][s] >= 0) {
                    pfd[n] = (struct pollfd){.fd = fds[i][s], .events = POLLIN};
                    map[n++] = i * 2 + s;
                }
        int rc = poll(pfd, (nfds_t)n, 100);
        if (rc < 0 && errno != EINTR)
            return 1;
        if (rc <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < PAIRS_MAX && slot < 0; i++)
                if (fds[i][0] < 0)
                    slot = i;
            if (c >= 0 && slot >= 0) {
                int s = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(s, (struct sockaddr *)&target, sizeof target) == 0) {
                    fds[slot][0] = c;
                    fds[slot][1] = s;
                } else {
                    close(s);
                    close(c);
                }
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int k = 1; k < n && !frozen; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int i = map[k] / 2, s = map[k] % 2;
            if (fds[i][s] < 0)
                continue;
            ssize_t got = read(fds[i][s], buf, sizeof buf);
            if (got <= 0) {
                close_pair(i, 0);
                continue;
            }
            for (ssize_t off = 0; off < got;) {
                ssize_t put = write(fds[i][1 - s], buf + off, (size_t)(got - off));
                if (put <= 0) {
                    close_pair(i, 0);
                    break;
                }
                off += put;
            }
        }
    }
}
