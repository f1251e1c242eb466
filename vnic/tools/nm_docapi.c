// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nm_docapi - a netmap program that uses only the documented API
 *
 *   nm_docapi tx netmap:eth0 COUNT            send COUNT frames
 *   nm_docapi rx netmap:eth0 COUNT [SECONDS]  receive COUNT frames (default 10 s)
 *
 * The test that runs it asks one question: does a program written the way
 * the netmap(4) man page teaches -- nm_open, NETMAP_TXRING, nm_ring_space,
 * NETMAP_BUF, nm_inject, nm_nextpkt, ioctl(NIOCTXSYNC), poll -- build
 * against <net/netmap_user.h> unchanged and work on ringlab's netmap.ko?
 * So nothing here is ringlab-specific.  Frames are broadcast, ethertype
 * 0x88b5, with a 64-bit big-endian sequence number after the header: the
 * layout nmgen uses, so that "nmgen rx" can check order and loss.
 *
 * tx fills the first half of the frames into the slots by hand and the
 * second half with nm_inject(), to exercise both ways.  One line goes to
 * stdout at the end: {"mode":..., "packets":N}.
 */
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <arpa/inet.h>
#include <endian.h>
#include <time.h>

#define FRAME_LEN	60
#define ETHERTYPE	0x88b5

static void make_frame(unsigned char *frame, unsigned int seq)
{
	uint16_t type = htons(ETHERTYPE);
	uint64_t nseq = htobe64(seq);

	memset(frame, 0, FRAME_LEN);
	memset(frame, 0xff, 6);			/* to everyone */
	frame[6] = 0x02;			/* from a local address */
	memcpy(frame + 12, &type, 2);
	memcpy(frame + 14, &nseq, sizeof(nseq));
}

static int do_tx(struct nm_desc *d, unsigned int count)
{
	struct netmap_ring *ring = NETMAP_TXRING(d->nifp, d->first_tx_ring);
	struct pollfd pfd = { .fd = NETMAP_FD(d), .events = POLLOUT };
	unsigned char frame[FRAME_LEN];
	unsigned int sent = 0, tries;

	while (sent < count) {
		if (nm_ring_space(ring) == 0) {
			if (poll(&pfd, 1, 1000) <= 0) {
				fprintf(stderr, "nm_docapi: TX ring stays full\n");
				return 1;
			}
			continue;
		}
		if (sent < count / 2) {
			/* by hand: fill the slots, then move head and cur */
			while (nm_ring_space(ring) > 0 && sent < count / 2) {
				struct netmap_slot *slot = &ring->slot[ring->cur];

				make_frame((unsigned char *)NETMAP_BUF(ring, slot->buf_idx), sent++);
				slot->len = FRAME_LEN;
				ring->head = ring->cur = nm_ring_next(ring, ring->cur);
			}
		} else {
			make_frame(frame, sent);
			while (sent < count && nm_inject(d, frame, FRAME_LEN) > 0)
				make_frame(frame, ++sent);
		}
		ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
	}
	/*
	 * Wait until the NIC has sent them all, on every bound ring (nm_inject
	 * may have used another than the first): closing drops what is pending.
	 */
	for (tries = 0; tries < 1000000; tries++) {
		unsigned int r, pending = 0;

		for (r = d->first_tx_ring; r <= d->last_tx_ring; r++)
			pending += nm_tx_pending(NETMAP_TXRING(d->nifp, r));
		if (!pending)
			break;
		ioctl(NETMAP_FD(d), NIOCTXSYNC, NULL);
	}
	printf("{\"mode\":\"tx\",\"packets\":%u}\n", sent);
	return 0;
}

static int do_rx(struct nm_desc *d, unsigned int count, unsigned int seconds)
{
	struct pollfd pfd = { .fd = NETMAP_FD(d), .events = POLLIN };
	time_t give_up = time(NULL) + seconds;
	unsigned int received = 0, other = 0;
	struct nm_pkthdr h;
	unsigned char *buf;

	while (received < count && time(NULL) < give_up) {
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		while ((buf = nm_nextpkt(d, &h)) != NULL) {
			if (h.len >= 14 && buf[12] == (ETHERTYPE >> 8) &&
			    buf[13] == (ETHERTYPE & 0xff))
				received++;
			else
				other++;
		}
	}
	printf("{\"mode\":\"rx\",\"packets\":%u,\"other\":%u}\n", received, other);
	if (received < count) {
		fprintf(stderr, "nm_docapi: received %u of %u frames\n", received, count);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int count, seconds = 10;
	struct nm_desc *d;
	int ret;

	if (argc < 4 || argc > 5 || (strcmp(argv[1], "tx") && strcmp(argv[1], "rx"))) {
		fprintf(stderr, "usage: nm_docapi tx|rx netmap:IF COUNT [SECONDS]\n");
		return 1;
	}
	count = strtoul(argv[3], NULL, 10);
	if (argc == 5)
		seconds = strtoul(argv[4], NULL, 10);
	if (count == 0 || seconds == 0) {
		fprintf(stderr, "nm_docapi: COUNT and SECONDS must be positive numbers\n");
		return 1;
	}

	d = nm_open(argv[2], NULL, 0, NULL);
	if (d == NULL) {
		fprintf(stderr, "nm_docapi: cannot open %s: %s\n", argv[2],
			errno ? strerror(errno) : "not a netmap port name");
		return 1;
	}
	if (!strcmp(argv[1], "tx"))
		ret = do_tx(d, count);
	else
		ret = do_rx(d, count, seconds);
	nm_close(d);
	return ret;
}
