// SPDX-License-Identifier: GPL-2.0
/*
 * stackmap_server - exercise 01's request/response server on a stack port
 *
 * Every 32-byte request is answered with its bytes reversed, as
 * rr_server.py does with sockets; but here sockets are used only for
 * listen() and accept().  Each accepted connection is attached to the
 * stack port "stack:IFNAME" (NETMAP_REQ_PST_FD_REG), and from then on its
 * data arrives in RX slots and leaves from TX slots, every slot naming its
 * connection's fd in slot.ptr: one poll() sends the answers of the last
 * batch and brings the requests of the next, for all connections at once.  The ceiling for the Python servers of the course.
 *
 * -m sockets serves the same protocol with the same code on the socket API
 * (epoll, recv, send), so that the two data paths can be compared with
 * nothing else different; -r makes each answer the reversed request
 * repeated to that many bytes (rr_load -r checks them).
 *
 *   stackmap_server [-m stack|sockets] [-i eth0] [-p 9100] [-r 32]
 *
 * Prints one line when listening and, on SIGINT/SIGTERM, one JSON line of
 * what it did.
 */

#define _GNU_SOURCE	/* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <net/netmap.h>
#include <net/netmap_user.h>

#define MESSAGE		32
#define MAX_FD		65536

/* what a connection has of a request that is not complete yet */
struct conn {
	uint8_t partial[MESSAGE];
	uint8_t have;
	uint8_t open;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int nm_ctrl(int fd, uint16_t type, const char *name, void *body)
{
	struct nmreq_header hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.nr_version = NETMAP_API;
	hdr.nr_reqtype = type;
	snprintf(hdr.nr_name, sizeof(hdr.nr_name), "%s", name);
	hdr.nr_body = (uintptr_t)body;
	return ioctl(fd, NIOCCTRL, &hdr);
}

struct stack_port {
	int fd;
	char name[NETMAP_REQ_IFNAMSIZ];
	struct netmap_ring *tx, *rx;
};

static void port_open(struct stack_port *p, const char *ifname)
{
	struct nmreq_register reg;
	void *mem;

	snprintf(p->name, sizeof(p->name), "%s%s", NM_STACK_PREFIX, ifname);
	p->fd = open("/dev/netmap", O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		die("/dev/netmap");
	memset(&reg, 0, sizeof(reg));
	reg.nr_mode = NR_REG_ALL_NIC;
	if (nm_ctrl(p->fd, NETMAP_REQ_REGISTER, p->name, &reg))
		die(p->name);
	mem = mmap(NULL, reg.nr_memsize, PROT_READ | PROT_WRITE, MAP_SHARED,
		   p->fd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	p->tx = NETMAP_TXRING(NETMAP_IF(mem, reg.nr_offset), 0);
	p->rx = NETMAP_RXRING(NETMAP_IF(mem, reg.nr_offset), 0);
}

/* a free TX slot, syncing (and waiting) for one if the ring is full */
static struct netmap_slot *tx_slot(struct stack_port *p)
{
	while (nm_ring_empty(p->tx)) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };

		if (ioctl(p->fd, NIOCTXSYNC, NULL) && errno != EINTR)
			die("NIOCTXSYNC");
		if (nm_ring_empty(p->tx) && poll(&pfd, 1, 100) < 0 &&
		    errno != EINTR)
			die("poll");
		if (stop)
			return NULL;
	}
	return &p->tx->slot[p->tx->head];
}

/*
 * Where one connection's answers go: TX slots of the stack port, filled
 * one after the other and pushed when full; or, in sockets mode, a buffer
 * that one send() writes.
 */
struct out {
	struct stack_port *port;	/* NULL: sockets mode */
	int fd;
	struct netmap_slot *slot;
	uint8_t *buf;
	uint32_t used, room;
	uint8_t *bytes;			/* sockets mode */
	size_t len, cap;
};

static void out_push(struct out *o)
{
	struct netmap_ring *tx = o->port->tx;

	o->slot->len = o->used;
	nm_pst_reset_fddoff(o->slot);
	nm_pst_setfd(o->slot, o->fd);
	tx->head = tx->cur = nm_ring_next(tx, tx->head);
	o->slot = NULL;
}

static int out_put(struct out *o, const uint8_t *data, uint32_t n)
{
	if (!o->port) {
		if (o->len + n > o->cap) {
			o->cap = 2 * (o->len + n);
			o->bytes = realloc(o->bytes, o->cap);
			if (!o->bytes)
				die("realloc");
		}
		memcpy(o->bytes + o->len, data, n);
		o->len += n;
		return 0;
	}
	while (n) {
		uint32_t take;

		if (!o->slot) {
			o->slot = tx_slot(o->port);
			if (!o->slot)
				return -1;
			o->buf = (uint8_t *)NETMAP_BUF_OFFSET(o->port->tx, o->slot);
			o->room = o->port->tx->nr_buf_size -
				  NETMAP_ROFFSET(o->port->tx, o->slot);
			o->used = 0;
		}
		take = n < o->room - o->used ? n : o->room - o->used;
		memcpy(o->buf + o->used, data, take);
		o->used += take;
		data += take;
		n -= take;
		if (o->used == o->room)
			out_push(o);
	}
	return 0;
}

/* the rest of the stack slot, or the whole buffer with send() */
static void out_flush(struct out *o)
{
	size_t sent = 0;

	if (o->port) {
		if (o->slot)
			out_push(o);
		return;
	}
	while (sent < o->len) {
		ssize_t n = send(o->fd, o->bytes + sent, o->len - sent, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;	/* the peer went away: its EOF comes next */
		sent += n;
	}
	o->len = 0;
}

/*
 * Data of one connection: complete its requests, answer each with the
 * request reversed, repeated to @response bytes.  Return: requests answered.
 */
static unsigned long serve(struct conn *c, const uint8_t *data, uint32_t len,
			   uint32_t response, struct out *o)
{
	unsigned long answered = 0;
	uint8_t answer[MESSAGE];
	uint32_t i;

	while (len) {
		uint32_t take = MESSAGE - c->have;

		if (take > len)
			take = len;
		memcpy(c->partial + c->have, data, take);
		c->have += take;
		data += take;
		len -= take;
		if (c->have < MESSAGE)
			break;
		c->have = 0;
		for (i = 0; i < MESSAGE; i++)
			answer[i] = c->partial[MESSAGE - 1 - i];
		for (i = 0; i < response; i += MESSAGE)
			if (out_put(o, answer, MESSAGE))
				return answered;
		answered++;
	}
	return answered;
}

struct stats {
	unsigned long accepted, closed, requests, batches;
};

static int listen_on(uint16_t tcp_port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int listener, one = 1;

	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listener < 0)
		die("socket");
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_port = htons(tcp_port);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(listener, 128))
		die("bind/listen");
	return listener;
}

/* the data path of StackMap: every connection's data in one pair of rings */
static void run_stack(int listener, const char *ifname, uint32_t response,
		      struct conn *conns, struct stats *st)
{
	struct stack_port port;
	struct out o = { .port = &port };

	port_open(&port, ifname);
	printf("listening via %s\n", port.name);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd[2] = {
			{ .fd = listener, .events = POLLIN },
			{ .fd = port.fd, .events = POLLIN },
		};
		struct netmap_ring *rx = port.rx;
		uint32_t i;

		if (poll(pfd, 2, 200) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		/* control: new connections, each attached to the port */
		while (pfd[0].revents & POLLIN) {
			struct nmreq_pst_fd_reg attach = { 0 };
			int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				break;
			attach.fd = fd;
			if (fd >= MAX_FD || nm_ctrl(port.fd, NETMAP_REQ_PST_FD_REG,
						    port.name, &attach)) {
				perror("attach");
				close(fd);
				continue;
			}
			memset(&conns[fd], 0, sizeof(conns[fd]));
			conns[fd].open = 1;
			st->accepted++;
		}
		/* data: every connection's, in one batch */
		if (nm_ring_empty(rx))
			continue;
		st->batches++;
		for (i = rx->head; i != rx->tail; i = nm_ring_next(rx, i)) {
			struct netmap_slot *slot = &rx->slot[i];
			int fd = nm_pst_getfd(slot);
			uint32_t doff = nm_pst_getdoff(slot);

			if (fd < 0 || fd >= MAX_FD || !conns[fd].open)
				continue;
			if (slot->len == doff) {	/* end of stream */
				conns[fd].open = 0;
				close(fd);
				st->closed++;
				continue;
			}
			o.fd = fd;
			st->requests += serve(&conns[fd],
					      (uint8_t *)NETMAP_BUF_OFFSET(rx, slot) + doff,
					      slot->len - doff, response, &o);
			out_flush(&o);
		}
		/* the next poll() sends the answers (it syncs TX first) */
		rx->head = rx->cur = rx->tail;
	}
	close(port.fd);
}

/* the same server on the socket API, for comparison: epoll, recv, send */
static void run_sockets(int listener, uint32_t response, struct conn *conns,
			struct stats *st)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = listener };
	struct out o = { 0 };
	static uint8_t buf[65536];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev))
		die("epoll");
	printf("listening with sockets\n");
	fflush(stdout);
	while (!stop) {
		struct epoll_event events[64];
		int n = epoll_wait(ep, events, 64, 200), e;

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		if (n > 0)
			st->batches++;
		for (e = 0; e < n; e++) {
			int fd = events[e].data.fd;
			ssize_t got;

			if (fd == listener) {
				while ((fd = accept4(listener, NULL, NULL,
						     SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = {
						.events = EPOLLIN, .data.fd = fd,
					};
					int one = 1;

					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					if (fd >= MAX_FD ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev)) {
						close(fd);
						continue;
					}
					memset(&conns[fd], 0, sizeof(conns[fd]));
					conns[fd].open = 1;
					st->accepted++;
				}
				continue;
			}
			got = recv(fd, buf, sizeof(buf), 0);
			if (got <= 0) {
				conns[fd].open = 0;
				close(fd);
				st->closed++;
				continue;
			}
			o.fd = fd;
			st->requests += serve(&conns[fd], buf, got, response, &o);
			out_flush(&o);
		}
	}
	free(o.bytes);
	close(ep);
}

int main(int argc, char **argv)
{
	const char *ifname = "eth0", *mode = "stack";
	uint32_t response = MESSAGE;
	struct stats st = { 0 };
	uint16_t tcp_port = 9100;
	struct conn *conns;
	int listener, opt;

	while ((opt = getopt(argc, argv, "i:p:r:m:")) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'p':
			tcp_port = atoi(optarg);
			break;
		case 'r':
			response = atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (!response || response % MESSAGE ||
	    (strcmp(mode, "stack") && strcmp(mode, "sockets")))
		goto usage;
	conns = calloc(MAX_FD, sizeof(*conns));
	if (!conns)
		die("calloc");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	listener = listen_on(tcp_port);
	printf("port %u, %u-byte answers: ", tcp_port, response);
	if (!strcmp(mode, "stack"))
		run_stack(listener, ifname, response, conns, &st);
	else
		run_sockets(listener, response, conns, &st);
	printf("{\"mode\": \"%s\", \"accepted\": %lu, \"closed\": %lu, \"requests\": %lu, \"batches\": %lu}\n",
	       mode, st.accepted, st.closed, st.requests, st.batches);
	return 0;

usage:
	fprintf(stderr, "usage: %s [-m stack|sockets] [-i ifname] [-p port] [-r answer bytes, a multiple of 32]\n",
		argv[0]);
	return 2;
}
