// SPDX-License-Identifier: GPL-2.0
/*
 * stackmap_server - exercise 01's request/response server on a stack port
 *
 * Every 32-byte request is answered with its bytes reversed, as
 * rr_server.py does with sockets; but here sockets are used only for
 * listen() and accept().  Each accepted connection is attached to the
 * stack port "stack:IFNAME" (NETMAP_REQ_PST_FD_REG), and from then on its
 * data arrives in RX slots and leaves from TX slots, every slot naming its
 * connection's fd in slot.ptr: one poll() and one TX sync serve a batch of
 * all connections.  The ceiling for the Python servers of the course.
 *
 *   stackmap_server [-i eth0] [-p 9100]
 *
 * Prints one line when listening and, on SIGINT/SIGTERM, one JSON line of
 * what it did.
 */

#define _GNU_SOURCE	/* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

static void tx_push(struct netmap_ring *tx, struct netmap_slot *slot, int fd,
		    uint32_t len)
{
	slot->len = len;
	nm_pst_reset_fddoff(slot);
	nm_pst_setfd(slot, fd);
	tx->head = tx->cur = nm_ring_next(tx, tx->head);
}

/*
 * One RX slot's data: complete the connection's requests, answer each in
 * one TX slot of that connection.  Return: requests answered.
 */
static unsigned long serve_slot(struct stack_port *p, struct conn *c, int fd,
				const uint8_t *data, uint32_t len)
{
	struct netmap_slot *out = NULL;
	unsigned long answered = 0;
	uint32_t room = 0, used = 0;
	uint8_t *buf = NULL;

	while (len) {
		uint32_t take = MESSAGE - c->have, i;

		if (take > len)
			take = len;
		memcpy(c->partial + c->have, data, take);
		c->have += take;
		data += take;
		len -= take;
		if (c->have < MESSAGE)
			break;
		c->have = 0;
		if (used + MESSAGE > room) {
			if (out)
				tx_push(p->tx, out, fd, used);
			out = tx_slot(p);
			if (!out)
				return answered;
			buf = (uint8_t *)NETMAP_BUF_OFFSET(p->tx, out);
			room = p->tx->nr_buf_size - NETMAP_ROFFSET(p->tx, out);
			used = 0;
		}
		for (i = 0; i < MESSAGE; i++)
			buf[used + i] = c->partial[MESSAGE - 1 - i];
		used += MESSAGE;
		answered++;
	}
	if (out)
		tx_push(p->tx, out, fd, used);
	return answered;
}

int main(int argc, char **argv)
{
	unsigned long accepted = 0, requests = 0, batches = 0, closed = 0;
	const char *ifname = "eth0";
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct stack_port port;
	struct conn *conns;
	int listener, opt, one = 1;
	uint16_t tcp_port = 9100;

	while ((opt = getopt(argc, argv, "i:p:")) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'p':
			tcp_port = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-i ifname] [-p port]\n", argv[0]);
			return 2;
		}
	}
	conns = calloc(MAX_FD, sizeof(*conns));
	if (!conns)
		die("calloc");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listener < 0)
		die("socket");
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_port = htons(tcp_port);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(listener, 128))
		die("bind/listen");
	port_open(&port, ifname);
	printf("listening on %u via %s\n", tcp_port, port.name);
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
		for (;;) {
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
			accepted++;
		}
		/* data: every connection's, in one batch */
		if (nm_ring_empty(rx))
			continue;
		batches++;
		for (i = rx->head; i != rx->tail; i = nm_ring_next(rx, i)) {
			struct netmap_slot *slot = &rx->slot[i];
			int fd = nm_pst_getfd(slot);
			uint32_t doff = nm_pst_getdoff(slot);

			if (fd < 0 || fd >= MAX_FD || !conns[fd].open)
				continue;
			if (slot->len == doff) {	/* end of stream */
				conns[fd].open = 0;
				close(fd);
				closed++;
				continue;
			}
			requests += serve_slot(&port, &conns[fd], fd,
					       (uint8_t *)NETMAP_BUF_OFFSET(rx, slot) + doff,
					       slot->len - doff);
		}
		rx->head = rx->cur = rx->tail;
		if (ioctl(port.fd, NIOCTXSYNC, NULL))
			die("NIOCTXSYNC");
	}
	printf("{\"accepted\": %lu, \"closed\": %lu, \"requests\": %lu, \"batches\": %lu}\n",
	       accepted, closed, requests, batches);
	close(port.fd);
	return 0;
}
