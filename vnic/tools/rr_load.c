// SPDX-License-Identifier: GPL-2.0
/*
 * rr_load - exercise 01's request/response load, in C
 *
 * CONNS connections, each a closed loop of REQUESTS transactions: send a
 * random 32-byte request, read the answer -- the request reversed, repeated
 * to RESPONSE bytes -- check every byte, send the next.  The same load as
 * rr_client.py, with a sender cheap enough that under TCG the servers, not
 * the client, are what is measured.  Plain sockets: the peer of a StackMap
 * server is any TCP.
 *
 *   rr_load -s 198.18.0.2:9100 [-c 16] [-n 50] [-r 32]
 *
 * Prints one JSON line: transactions, errors, seconds, tps, p50_us, p99_us,
 * and "stalled": the connections that did not finish, each as [its number,
 * its local TCP port, the answers it got], so a check can name the one a
 * server left waiting.
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
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE		32
#define MAX_RESPONSE	(1 << 20)

struct conn {
	int fd;
	uint16_t local_port;	/* names the connection to whoever reads the report */
	unsigned int left;	/* transactions still to do */
	uint8_t request[MESSAGE];
	uint32_t got;		/* bytes of the answer read so far */
	double sent_at;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int connect_to(const struct sockaddr_in *addr, uint16_t *local_port)
{
	double deadline = now() + 10;
	int one = 1;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (!connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
			struct sockaddr_in me;
			socklen_t len = sizeof(me);

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			fcntl(fd, F_SETFL, O_NONBLOCK);
			getsockname(fd, (struct sockaddr *)&me, &len);
			*local_port = ntohs(me.sin_port);
			return fd;
		}
		close(fd);
		if (now() > deadline)	/* the server may still be starting */
			return -1;
		usleep(100000);
	}
}

static int send_request(struct conn *c)
{
	if (getrandom(c->request, MESSAGE, 0) != MESSAGE)
		return -1;
	c->got = 0;
	c->sent_at = now();
	return send(c->fd, c->request, MESSAGE, 0) == MESSAGE ? 0 : -1;
}

/* @data continues the answer at byte c->got: is every byte what it must be? */
static int check(const struct conn *c, const uint8_t *data, ssize_t n)
{
	ssize_t i;

	for (i = 0; i < n; i++) {
		uint32_t at = (c->got + i) % MESSAGE;

		if (data[i] != c->request[MESSAGE - 1 - at])
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int conns = 16, requests = 50, response = MESSAGE, active, i;
	unsigned long done = 0, errors = 0;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	char *server = NULL, *colon;
	double started, seconds, *latency;
	static uint8_t buf[65536];
	struct conn *c;
	int ep, opt;

	while ((opt = getopt(argc, argv, "s:c:n:r:")) != -1) {
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 'n':
			requests = atoi(optarg);
			break;
		case 'r':
			response = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	colon = server ? strrchr(server, ':') : NULL;
	if (!colon || !conns || !requests || !response || response % MESSAGE ||
	    response > MAX_RESPONSE)
		goto usage;
	*colon = '\0';
	addr.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, server, &addr.sin_addr) != 1)
		goto usage;

	c = calloc(conns, sizeof(*c));
	latency = calloc((size_t)conns * requests, sizeof(*latency));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c || !latency || ep < 0) {
		perror("setup");
		return 1;
	}
	for (i = 0; i < conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		c[i].fd = connect_to(&addr, &c[i].local_port);
		if (c[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev)) {
			perror("connect");
			return 1;
		}
		c[i].left = requests;
	}

	started = now();
	for (i = 0; i < conns; i++)
		if (send_request(&c[i]))
			errors++;
	active = conns;
	while (active) {
		struct epoll_event events[64];
		int n = epoll_wait(ep, events, 64, 5000), e;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {		/* the server stopped answering */
			errors += active;
			break;
		}
		for (e = 0; e < n; e++) {
			struct conn *k = &c[events[e].data.u32];
			ssize_t got = recv(k->fd, buf, sizeof(buf), 0);

			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0 || k->got + got > response) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
				close(k->fd);
				active--;
				continue;
			}
			if (check(k, buf, got))
				errors++;
			k->got += got;
			if (k->got < response)
				continue;
			latency[done++] = now() - k->sent_at;
			if (--k->left && !send_request(k))
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
			close(k->fd);
			active--;
		}
	}
	seconds = now() - started;
	qsort(latency, done, sizeof(*latency), cmp_double);
	printf("{\"transactions\": %lu, \"errors\": %lu, \"seconds\": %.6f, \"tps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"stalled\": [",
	       done, errors, seconds, seconds > 0 ? done / seconds : 0.0,
	       done ? latency[done / 2] * 1e6 : 0.0,
	       done ? latency[(size_t)(done * 0.99)] * 1e6 : 0.0);
	for (i = 0, opt = 0; i < conns; i++)
		if (c[i].left)
			printf("%s[%u, %u, %u]", opt++ ? ", " : "", i,
			       c[i].local_port, requests - c[i].left);
	printf("]}\n");
	return errors ? 1 : 0;

usage:
	fprintf(stderr, "usage: %s -s HOST:PORT [-c conns] [-n requests] [-r response bytes, a multiple of 32]\n",
		argv[0]);
	return 2;
}
