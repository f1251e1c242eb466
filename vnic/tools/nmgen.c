// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * nmgen - send, receive and reflect test frames on a netmap port
 *
 *   nmgen tx   -i netmap:eth0 [-r PPS] [-b BATCH] [-l LEN] [-n COUNT | -d SECS]
 *   nmgen rx   -i netmap:eth0 [-n COUNT | -d SECS] [-N NONCE] [-t SECS]
 *   nmgen ping -i netmap:eth0 [-r PPS] [-l LEN] [-n COUNT | -d SECS] [-t SECS]
 *   nmgen pong -i netmap:eth0 [-n COUNT | -d SECS] [-t SECS]
 *
 * Written for ringlab against the documented netmap API only
 * (net/netmap_user.h): nm_open, the TX/RX rings, NIOCTXSYNC / NIOCRXSYNC
 * and poll().  What it shows is the cost model of netmap: a program fills
 * or empties many slots, then makes one system call for all of them.  So
 * every mode counts its system calls and prints, at the end, exactly one
 * JSON line on stdout: packets, seconds, pps, syncs, polls, syscalls,
 * syscalls_per_packet, avg_batch, plus what the mode measures.
 *
 * The frame (all fields big-endian):
 *
 *   0  destination MAC   broadcast, or --dst
 *   6  source MAC        the interface's (/sys/class/net/IF/address)
 *  12  ethertype 0x88b5  IEEE "local experimental": no stack will take it
 *  14  sequence number   0, 1, 2, ... per run
 *  22  nonce             tells this run's frames from an earlier run's
 *  30  send time (ns)    ping only; pong sends it back unchanged
 *  38  zeros up to -l
 */
#define _GNU_SOURCE
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <endian.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/random.h>
#include <time.h>

#define NMGEN_ETHERTYPE		0x88b5
#define NMGEN_MAX_LEN		9216	/* a jumbo frame; the ring's buffer size decides */
#define NMGEN_MAX_BATCH		4096
#define NMGEN_POLL_MS		100	/* poll() wakes at least this often to check the clock */
#define NMGEN_DRAIN_NS		2000000000ull	/* give up draining TX after 2 s */
#define NMGEN_SEQ_WINDOW	65536	/* rx: how far back a sequence number is remembered */
#define NSEC			1000000000ull

struct nmgen_frame {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type;
	uint64_t seq;
	uint64_t nonce;
	uint64_t sent_ns;
} __attribute__((packed));

#define NMGEN_MIN_LEN		((unsigned int)sizeof(struct nmgen_frame))

enum nmgen_mode { MODE_TX, MODE_RX, MODE_PING, MODE_PONG };
static const char *const mode_names[] = { "tx", "rx", "ping", "pong" };

struct nmgen {
	/* the command line */
	enum nmgen_mode mode;
	const char *port;	/* as given */
	char bound[NETMAP_REQ_IFNAMSIZ + 16];	/* as opened */
	uint64_t rate;		/* frames per second; 0: as fast as the ring takes them */
	unsigned int batch;	/* tx: at most this many slots per NIOCTXSYNC */
	unsigned int len;
	uint64_t count;		/* 0: no limit */
	uint64_t duration_ns;	/* 0: no limit */
	uint64_t timeout_ns;	/* rx, pong: end when idle this long; ping: reply timeout */
	uint8_t dst[6];
	uint64_t nonce;
	bool nonce_given;

	/* the port */
	struct nm_desc *d;
	struct netmap_ring *tx;	/* tx, ping: the one TX ring we send on */
	uint8_t src[6];
	uint8_t frame[NMGEN_MAX_LEN];	/* tx, ping: the template every frame copies */

	/* what happened */
	uint64_t packets;	/* tx: sent; rx: ours received; ping: replies; pong: reflected */
	uint64_t syncs, polls;
	uint64_t batches;	/* system calls after which frames moved */
	uint64_t first_ns, last_ns;	/* the span "seconds" covers */
	uint64_t sent, lost, out_of_order, duplicates, foreign, dropped, late;
	bool drained;

	/* rx: sequence numbers seen, a sliding window behind next_seq */
	uint64_t next_seq;
	uint64_t seen[NMGEN_SEQ_WINDOW / 64];

	/* ping: round-trip times */
	uint64_t *rtt_ns;
	size_t rtt_count, rtt_room;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;	/* the loops notice it; poll() returns EINTR */
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fputs("nmgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static void sleep_until(uint64_t when_ns)
{
	struct timespec ts = { .tv_sec = when_ns / NSEC, .tv_nsec = when_ns % NSEC };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ------------------------------------------------------------------ */
/* The system calls, counted                                           */
/* ------------------------------------------------------------------ */

static void txsync(struct nmgen *g)
{
	g->syncs++;
	if (ioctl(g->d->fd, NIOCTXSYNC, NULL) < 0)
		die("NIOCTXSYNC on %s: %s", g->port, strerror(errno));
}

/*
 * Wait until a ring of the direction has slots for us (poll syncs the
 * rings itself: TX always, RX for POLLIN).  Return 1 if one has, 0 on a
 * timeout or a signal.
 */
static int wait_rings(struct nmgen *g, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = g->d->fd, .events = events };
	int ret;

	g->polls++;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0) {
		if (errno == EINTR)
			return 0;
		die("poll on %s: %s", g->port, strerror(errno));
	}
	if (pfd.revents & (POLLERR | POLLNVAL))
		die("poll on %s: the kernel reports an error (bad ring indices, or the port went away)", g->port);
	return ret > 0;
}

/* ms until @end_ns, capped at NMGEN_POLL_MS; no end: the cap */
static int poll_ms(uint64_t end_ns)
{
	uint64_t now = now_ns();

	if (!end_ns)
		return NMGEN_POLL_MS;
	if (now >= end_ns)
		return 0;
	if (end_ns - now >= NMGEN_POLL_MS * 1000000ull)
		return NMGEN_POLL_MS;
	return (int)((end_ns - now + 999999) / 1000000);
}

#define for_each_ring(_ri, _first, _last) \
	for (unsigned int _ri = (_first); _ri <= (_last); _ri++)

static bool tx_pending(struct nmgen *g)
{
	for_each_ring(ri, g->d->first_tx_ring, g->d->last_tx_ring)
		if (nm_tx_pending(NETMAP_TXRING(g->d->nifp, ri)))
			return true;
	return false;
}

/*
 * After the last frame: NIOCTXSYNC until the NIC has sent everything, so
 * "seconds" ends when the frames are on the wire.  txsync reclaims on
 * every call, interrupts or not; the time limit is for a stalled NIC.
 */
static void tx_drain(struct nmgen *g)
{
	uint64_t give_up = now_ns() + NMGEN_DRAIN_NS;

	while (tx_pending(g) && now_ns() < give_up)
		txsync(g);
	g->drained = !tx_pending(g);
}

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

static bool is_ours(struct nmgen *g, const uint8_t *buf, unsigned int len)
{
	const struct nmgen_frame *f = (const void *)buf;

	if (len < NMGEN_MIN_LEN || f->type != htobe16(NMGEN_ETHERTYPE))
		return false;
	return !g->nonce_given || be64toh(f->nonce) == g->nonce;
}

static void frame_template(struct nmgen *g)
{
	struct nmgen_frame *f = (void *)g->frame;

	memset(g->frame, 0, sizeof(g->frame));
	memcpy(f->dst, g->dst, 6);
	memcpy(f->src, g->src, 6);
	f->type = htobe16(NMGEN_ETHERTYPE);
	f->nonce = htobe64(g->nonce);
}

/*
 * Copy the whole template, not just the sequence number: between syncs a
 * slot's buffer is ours, but nothing says it still holds what we wrote
 * into it last time round.
 */
static void frame_put(struct nmgen *g, struct netmap_ring *ring,
		      struct netmap_slot *slot, uint64_t seq, uint64_t sent_ns)
{
	struct nmgen_frame *f = (void *)NETMAP_BUF(ring, slot->buf_idx);

	memcpy(f, g->frame, g->len);
	f->seq = htobe64(seq);
	f->sent_ns = sent_ns;	/* opaque to pong: host order is fine */
	slot->len = g->len;
	slot->flags = 0;
}

/*
 * Fill up to @want free slots of our TX ring; return how many.  One ring
 * only: the NIC serves its TX queues side by side, so frames spread over
 * several would leave out of order (pick another with netmap:eth0-N).
 */
static unsigned int tx_fill(struct nmgen *g, unsigned int want, uint64_t sent_ns)
{
	struct netmap_ring *ring = g->tx;
	uint32_t i = ring->head;
	unsigned int n = nm_ring_space(ring);

	if (n > want)
		n = want;
	for (unsigned int k = 0; k < n; k++) {
		frame_put(g, ring, &ring->slot[i], g->sent++, sent_ns);
		i = nm_ring_next(ring, i);
	}
	ring->head = ring->cur = i;	/* one store per batch */
	return n;
}

/* ------------------------------------------------------------------ */
/* rx: sequence-number bookkeeping                                     */
/* ------------------------------------------------------------------ */

static bool seen_test(struct nmgen *g, uint64_t seq)
{
	seq %= NMGEN_SEQ_WINDOW;
	return g->seen[seq / 64] & (1ull << (seq % 64));
}

static void seen_set(struct nmgen *g, uint64_t seq, bool on)
{
	uint64_t bit = 1ull << (seq % NMGEN_SEQ_WINDOW % 64);
	uint64_t *word = &g->seen[seq % NMGEN_SEQ_WINDOW / 64];

	*word = on ? *word | bit : *word & ~bit;
}

/*
 * next_seq is one past the highest sequence number seen.  A frame above it
 * opens a gap, counted lost until (unless) its frames turn up late; a
 * frame below it is late (out of order) or a duplicate, which the window
 * of recently seen numbers tells apart.
 */
static void rx_count_seq(struct nmgen *g, uint64_t seq)
{
	if (seq >= g->next_seq) {
		uint64_t gap = seq - g->next_seq;

		g->lost += gap;
		if (gap >= NMGEN_SEQ_WINDOW)
			memset(g->seen, 0, sizeof(g->seen));
		else
			for (uint64_t s = g->next_seq; s < seq; s++)
				seen_set(g, s, false);	/* these bits held seq - WINDOW */
		seen_set(g, seq, true);
		g->next_seq = seq + 1;
		g->packets++;
	} else if (g->next_seq - seq > NMGEN_SEQ_WINDOW) {
		/* too old for the window: late or a duplicate, we cannot tell */
		g->out_of_order++;
	} else if (seen_test(g, seq)) {
		g->duplicates++;
	} else {
		/* late: it was counted lost when its gap opened */
		seen_set(g, seq, true);
		g->out_of_order++;
		g->lost--;
		g->packets++;
	}
}

/* Consume every slot in [head, tail) of every RX ring; return how many. */
static unsigned int rx_consume(struct nmgen *g)
{
	unsigned int n = 0;

	for_each_ring(ri, g->d->first_rx_ring, g->d->last_rx_ring) {
		struct netmap_ring *ring = NETMAP_RXRING(g->d->nifp, ri);
		uint32_t tail = ring->tail;	/* read once: the kernel's word */
		uint32_t i;

		for (i = ring->head; i != tail; i = nm_ring_next(ring, i), n++) {
			struct netmap_slot *slot = &ring->slot[i];
			const uint8_t *buf = (const void *)NETMAP_BUF(ring, slot->buf_idx);

			if (is_ours(g, buf, slot->len))
				rx_count_seq(g, be64toh(((const struct nmgen_frame *)buf)->seq));
			else
				g->foreign++;
		}
		ring->head = ring->cur = tail;	/* all back at the next sync */
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* The four modes                                                      */
/* ------------------------------------------------------------------ */

static bool time_is_up(struct nmgen *g, uint64_t start)
{
	return g->duration_ns && now_ns() - start >= g->duration_ns;
}

static void run_tx(struct nmgen *g)
{
	uint64_t start = now_ns();

	g->first_ns = start;
	while (!stop && !(g->count && g->sent >= g->count) && !time_is_up(g, start)) {
		unsigned int want = g->batch, n;

		if (g->count && g->count - g->sent < want)
			want = g->count - g->sent;
		if (g->rate) {
			/* frames due by now; frame k is due at start + k / rate */
			uint64_t due = (uint64_t)((double)(now_ns() - start) * g->rate / NSEC) + 1;

			if (due <= g->sent) {
				sleep_until(start + (uint64_t)((double)g->sent * NSEC / g->rate));
				continue;
			}
			if (due - g->sent < want)
				want = due - g->sent;
		}
		n = tx_fill(g, want, 0);
		if (n == 0) {
			/* the ring is full: sleep until the NIC has sent some */
			wait_rings(g, POLLOUT, NMGEN_POLL_MS);
			continue;
		}
		txsync(g);	/* one doorbell for the whole batch */
		g->batches++;
	}
	tx_drain(g);
	g->packets = g->sent;
	g->last_ns = now_ns();
}

static void run_rx(struct nmgen *g)
{
	uint64_t start = now_ns(), last_frame = start;
	uint64_t end = g->duration_ns ? start + g->duration_ns : 0;

	while (!stop && !(g->count && g->next_seq >= g->count) && !time_is_up(g, start)) {
		if (g->timeout_ns && now_ns() - last_frame >= g->timeout_ns)
			break;
		if (!wait_rings(g, POLLIN, poll_ms(end)))
			continue;
		if (rx_consume(g)) {
			last_frame = now_ns();
			if (!g->first_ns)
				g->first_ns = last_frame;
			g->last_ns = last_frame;
			g->batches++;
		}
	}
	/* with -n, the sequence numbers never seen at all are lost too */
	if (g->count && g->next_seq < g->count)
		g->lost += g->count - g->next_seq;
}

static void rtt_add(struct nmgen *g, uint64_t rtt)
{
	if (g->rtt_count == g->rtt_room) {
		g->rtt_room = g->rtt_room ? 2 * g->rtt_room : 1024;
		g->rtt_ns = realloc(g->rtt_ns, g->rtt_room * sizeof(*g->rtt_ns));
		if (!g->rtt_ns)
			die("out of memory for %zu round-trip times", g->rtt_room);
	}
	g->rtt_ns[g->rtt_count++] = rtt;
}

/* ping: look for the reply to @seq among the received slots */
static bool ping_reply(struct nmgen *g, uint64_t seq)
{
	bool found = false;

	for_each_ring(ri, g->d->first_rx_ring, g->d->last_rx_ring) {
		struct netmap_ring *ring = NETMAP_RXRING(g->d->nifp, ri);
		uint32_t tail = ring->tail, i;

		for (i = ring->head; i != tail; i = nm_ring_next(ring, i)) {
			struct netmap_slot *slot = &ring->slot[i];
			const struct nmgen_frame *f = (const void *)NETMAP_BUF(ring, slot->buf_idx);

			if (!is_ours(g, (const uint8_t *)f, slot->len)) {
				g->foreign++;
			} else if (be64toh(f->seq) == seq && !found) {
				rtt_add(g, now_ns() - f->sent_ns);
				found = true;
			} else {
				g->late++;	/* a reply after its timeout */
			}
		}
		ring->head = ring->cur = tail;
	}
	return found;
}

static void run_ping(struct nmgen *g)
{
	uint64_t start = now_ns();

	g->first_ns = start;
	for (uint64_t seq = 0; !stop && !(g->count && seq >= g->count); seq++) {
		uint64_t give_up;
		bool answered = false;

		if (time_is_up(g, start))
			break;
		if (g->rate && seq)
			sleep_until(start + (uint64_t)((double)seq * NSEC / g->rate));
		/* one frame in flight: the ring is only full if the NIC is stuck */
		while (nm_ring_empty(g->tx) && !stop) {
			txsync(g);
			if (nm_ring_empty(g->tx))
				wait_rings(g, POLLOUT, NMGEN_POLL_MS);
		}
		if (stop)
			break;
		tx_fill(g, 1, now_ns());
		txsync(g);
		g->batches++;

		give_up = now_ns() + g->timeout_ns;
		while (!answered && !stop && now_ns() < give_up)
			if (wait_rings(g, POLLIN, poll_ms(give_up)))
				answered = ping_reply(g, seq);
		if (answered)
			g->packets++;
		else if (!stop)
			g->lost++;
	}
	tx_drain(g);
	g->last_ns = now_ns();
}

/*
 * pong: send every frame of ours back where it came from without copying
 * it: its RX buffer becomes a TX slot's buffer and the TX slot's buffer
 * goes into the RX slot (both rings are in one memory region, so any
 * buffer fits any slot).  NS_BUF_CHANGED tells the driver to re-point both
 * descriptors.
 */
static unsigned int pong_reflect(struct nmgen *g)
{
	struct nm_desc *d = g->d;
	unsigned int tx_rings = d->last_tx_ring - d->first_tx_ring + 1;
	unsigned int n = 0;

	for_each_ring(ri, d->first_rx_ring, d->last_rx_ring) {
		struct netmap_ring *rx = NETMAP_RXRING(d->nifp, ri);
		struct netmap_ring *tx = NETMAP_TXRING(d->nifp,
			d->first_tx_ring + (ri - d->first_rx_ring) % tx_rings);
		uint32_t tail = rx->tail, i;

		for (i = rx->head; i != tail; i = nm_ring_next(rx, i)) {
			struct netmap_slot *rs = &rx->slot[i], *ts;
			struct nmgen_frame *f = (void *)NETMAP_BUF(rx, rs->buf_idx);
			uint32_t idx;

			if (!is_ours(g, (const uint8_t *)f, rs->len)) {
				g->foreign++;
				continue;
			}
			if (nm_ring_empty(tx)) {
				txsync(g);	/* hand over what we have, reclaim */
				if (nm_ring_empty(tx)) {
					g->dropped++;
					continue;
				}
			}
			/* back to the sender, from us (not from a broadcast address) */
			memcpy(f->dst, f->src, 6);
			memcpy(f->src, g->src, 6);

			ts = &tx->slot[tx->head];
			idx = ts->buf_idx;
			ts->buf_idx = rs->buf_idx;
			ts->len = rs->len;
			ts->flags = NS_BUF_CHANGED;
			rs->buf_idx = idx;
			rs->flags = NS_BUF_CHANGED;
			tx->head = tx->cur = nm_ring_next(tx, tx->head);
			n++;
		}
		rx->head = rx->cur = tail;
	}
	return n;
}

static void run_pong(struct nmgen *g)
{
	uint64_t start = now_ns(), last_frame = start;
	uint64_t end = g->duration_ns ? start + g->duration_ns : 0;

	while (!stop && !(g->count && g->packets >= g->count) && !time_is_up(g, start)) {
		unsigned int n;

		if (g->timeout_ns && now_ns() - last_frame >= g->timeout_ns)
			break;
		if (!wait_rings(g, POLLIN, poll_ms(end)))
			continue;
		n = pong_reflect(g);
		if (n) {
			txsync(g);	/* the replies leave now, not at the next poll */
			g->batches++;
			g->packets += n;
			last_frame = now_ns();
			if (!g->first_ns)
				g->first_ns = last_frame;
			g->last_ns = last_frame;
		}
	}
	tx_drain(g);
}

/* ------------------------------------------------------------------ */
/* The report: one JSON line                                           */
/* ------------------------------------------------------------------ */

static void json_string(const char *key, const char *s)
{
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_u64(const char *key, uint64_t v)
{
	printf(",\"%s\":%" PRIu64, key, v);
}

/* a ratio, or null when the denominator is 0 (JSON has no infinity) */
static void json_ratio(const char *key, double num, double den, int decimals)
{
	if (den > 0)
		printf(",\"%s\":%.*f", key, decimals, num / den);
	else
		printf(",\"%s\":null", key);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void json_rtt(struct nmgen *g)
{
	static const struct { const char *key; unsigned int permille; } pct[] = {
		{ "rtt_us_min", 0 }, { "rtt_us_p50", 500 }, { "rtt_us_p99", 990 },
		{ "rtt_us_max", 1000 },
	};
	double sum = 0;

	qsort(g->rtt_ns, g->rtt_count, sizeof(*g->rtt_ns), cmp_u64);
	for (size_t k = 0; k < g->rtt_count; k++)
		sum += g->rtt_ns[k];
	json_ratio("rtt_us_avg", sum / 1000, g->rtt_count, 1);
	for (size_t k = 0; k < sizeof(pct) / sizeof(pct[0]); k++) {
		/* nearest rank: the smallest value with permille/1000 of them at or below */
		size_t rank = (g->rtt_count * pct[k].permille + 999) / 1000;

		if (!g->rtt_count)
			printf(",\"%s\":null", pct[k].key);
		else
			printf(",\"%s\":%.1f", pct[k].key,
			       g->rtt_ns[rank ? rank - 1 : 0] / 1000.0);
	}
}

static void report(struct nmgen *g)
{
	double seconds = g->last_ns > g->first_ns ? (g->last_ns - g->first_ns) / 1e9 : 0;
	uint64_t syscalls = g->syncs + g->polls;
	char nonce[19];

	printf("{\"mode\":\"%s\"", mode_names[g->mode]);
	json_string("port", g->bound);
	json_u64("packets", g->packets);
	printf(",\"seconds\":%.6f", seconds);
	json_ratio("pps", g->packets, seconds, 1);
	json_u64("syncs", g->syncs);
	json_u64("polls", g->polls);
	json_u64("syscalls", syscalls);
	json_ratio("syscalls_per_packet", syscalls, g->packets, 4);
	json_ratio("avg_batch", g->packets, g->batches, 2);
	snprintf(nonce, sizeof(nonce), "0x%016" PRIx64, g->nonce);
	if (g->mode != MODE_PONG && (g->mode != MODE_RX || g->nonce_given))
		json_string("nonce", nonce);
	switch (g->mode) {
	case MODE_TX:
		json_u64("frame_len", g->len);
		json_u64("batch", g->batch);
		json_u64("rate_pps", g->rate);
		printf(",\"drained\":%s", g->drained ? "true" : "false");
		break;
	case MODE_RX:
		json_u64("lost", g->lost);
		json_u64("out_of_order", g->out_of_order);
		json_u64("duplicates", g->duplicates);
		json_u64("foreign", g->foreign);
		break;
	case MODE_PING:
		json_u64("sent", g->sent);
		json_u64("lost", g->lost);
		json_u64("late", g->late);
		json_u64("foreign", g->foreign);
		json_u64("frame_len", g->len);
		json_rtt(g);
		break;
	case MODE_PONG:
		json_u64("foreign", g->foreign);
		json_u64("dropped", g->dropped);
		break;
	}
	printf(",\"interrupted\":%s}\n", stop ? "true" : "false");
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */
/* ------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fputs("usage: nmgen tx|rx|ping|pong -i netmap:IF [options]\n"
	      "\n"
	      "  tx    send numbered frames (ethertype 0x88b5)\n"
	      "  rx    receive them; count lost, out-of-order, duplicate and foreign frames\n"
	      "  ping  send one frame at a time and time its reflection\n"
	      "  pong  reflect every frame of ours back to its sender (zero copy)\n"
	      "\n"
	      "  -i, --port PORT       netmap port: netmap:eth0, netmap:eth0-1, ...\n"
	      "                        (tx, ping send on its first TX ring, so in order;\n"
	      "                        tx binds only that ring pair: netmap:eth0 -> eth0-0)\n"
	      "  -r, --rate PPS        frames per second (tx, ping; default: no limit)\n"
	      "  -b, --batch N         tx: at most N frames per NIOCTXSYNC (default 64)\n"
	      "  -l, --len BYTES       frame length without FCS (default 60, at least 38)\n"
	      "  -n, --count N         tx, ping: frames to send; rx: expect numbers 0..N-1;\n"
	      "                        pong: frames to reflect (default: until Ctrl-C)\n"
	      "  -d, --duration SECS   stop after SECS seconds\n"
	      "  -N, --nonce X         tx, ping: the nonce to send (default random);\n"
	      "                        rx, pong: accept only frames with this nonce\n"
	      "  -t, --timeout SECS    rx, pong: stop when no frame came for SECS;\n"
	      "                        ping: wait SECS for each reply (default 1)\n"
	      "      --dst MAC         destination (tx, ping; default ff:ff:ff:ff:ff:ff)\n"
	      "  -h, --help            this text\n"
	      "\n"
	      "At the end (or on Ctrl-C) one JSON line goes to stdout. syscalls counts\n"
	      "netmap system calls (syncs + polls); seconds spans the first to the last\n"
	      "frame; avg_batch is frames per system call that moved frames.\n",
	      out);
}

static uint64_t parse_u64(const char *what, const char *s, uint64_t min, uint64_t max, int base)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, base);
	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ' || *end != '\0')
		die("%s: \"%s\" is not a number", what, s);
	if (errno == ERANGE || v < min || v > max)
		die("%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]", what, s, min, max);
	return v;
}

static uint64_t parse_seconds(const char *what, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno == ERANGE)
		die("%s: \"%s\" is not a number of seconds", what, s);
	if (!(v > 0 && v <= 1e6))	/* also false for NaN */
		die("%s: %s is out of range (0, 1000000] seconds", what, s);
	return (uint64_t)(v * NSEC);
}

/* "02:00:5e:10:00:01" into @mac; false if that is not what @s is */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	for (int k = 0; k < 6; k++) {
		unsigned int byte = 0;

		for (int h = 0; h < 2; h++, s++) {
			int c = *s;

			if (c >= '0' && c <= '9')
				byte = byte * 16 + c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				byte = byte * 16 + (c | 0x20) - 'a' + 10;
			else
				return false;
		}
		mac[k] = byte;
		if (*s != (k < 5 ? ':' : '\0'))
			return false;
		s++;
	}
	return true;
}

static void parse_args(struct nmgen *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'i' },
		{ "rate", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "len", required_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "nonce", required_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 't' },
		{ "dst", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, m;

	if (argc < 2) {
		usage(stderr);
		exit(1);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	for (m = 0; m < 4 && strcmp(argv[1], mode_names[m]); m++)
		;
	if (m == 4)
		die("unknown mode \"%s\" (tx, rx, ping or pong; --help for more)", argv[1]);
	g->mode = m;
	g->batch = 64;
	g->len = 60;
	memset(g->dst, 0xff, 6);

	optind = 2;
	while ((opt = getopt_long(argc, argv, "i:r:b:l:n:d:N:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			g->port = optarg;
			break;
		case 'r':
			g->rate = parse_u64("-r (frames per second)", optarg, 0, 1000000000, 10);
			break;
		case 'b':
			g->batch = parse_u64("-b (batch)", optarg, 1, NMGEN_MAX_BATCH, 10);
			break;
		case 'l':
			g->len = parse_u64("-l (frame length)", optarg, NMGEN_MIN_LEN,
					   NMGEN_MAX_LEN, 10);
			break;
		case 'n':
			g->count = parse_u64("-n (count)", optarg, 1, UINT64_MAX / 2, 10);
			break;
		case 'd':
			g->duration_ns = parse_seconds("-d (duration)", optarg);
			break;
		case 'N':
			g->nonce = parse_u64("-N (nonce)", optarg, 0, UINT64_MAX, 0);
			g->nonce_given = true;
			break;
		case 't':
			g->timeout_ns = parse_seconds("-t (timeout)", optarg);
			break;
		case 'D':
			if (!parse_mac(optarg, g->dst))
				die("--dst: \"%s\" is not a MAC address like 02:00:00:00:00:01",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			exit(1);	/* getopt has said what was wrong */
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\"", argv[optind]);
	if (!g->port)
		die("%s: which port? (-i netmap:eth0)", mode_names[g->mode]);
	if (g->mode == MODE_PING && !g->timeout_ns)
		g->timeout_ns = NSEC;
}

/* The interface's own MAC: the source of what we send. */
static void read_mac(struct nmgen *g)
{
	char path[64 + IFNAMSIZ], text[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", g->d->req.nr_name);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(text, sizeof(text), f))
			text[0] = '\0';
		fclose(f);
	}
	text[strcspn(text, "\n")] = '\0';
	if (!parse_mac(text, g->src)) {
		/* a VALE port or a pipe has no netdev: a locally administered address */
		static const uint8_t local[6] = { 0x02, 0, 0, 0, 0, 0x01 };

		memcpy(g->src, local, 6);
		fprintf(stderr, "nmgen: no MAC in %s, sending from 02:00:00:00:00:01\n", path);
	}
}

static void open_port(struct nmgen *g)
{
	struct nmreq probe = { 0 };
	char msg[NM_ERRBUF_SIZE];

	if (strncmp(g->port, "netmap:", 7) && strncmp(g->port, "vale", 4))
		die("cannot open %s: not a netmap port name (try netmap:%s)", g->port, g->port);
	if (nm_parse_name(g->port, &probe, msg))
		die("cannot open %s", msg);
	snprintf(g->bound, sizeof(g->bound), "%s", g->port);
	if (g->mode == MODE_TX && (probe.nr_flags & NR_REG_MASK) == NR_REG_ALL_NIC) {
		/*
		 * tx sends on one ring; bind just that pair (-0), or poll(POLLOUT)
		 * would return at once for the other, idle TX rings.
		 */
		int end = (strncmp(g->port, "netmap:", 7) ? 0 : 7) + (int)strlen(probe.nr_name);

		snprintf(g->bound, sizeof(g->bound), "%.*s-0%s", end, g->port, g->port + end);
	}
	g->d = nm_open(g->bound, NULL, 0, NULL);
	if (!g->d && errno == ENOENT && access(NETMAP_DEVICE_NAME, F_OK))
		die("cannot open %s: no %s (is netmap.ko loaded?)", g->port, NETMAP_DEVICE_NAME);
	if (!g->d)
		die("cannot open %s: %s", g->port, strerror(errno));

	if (g->mode != MODE_RX && g->d->first_tx_ring > g->d->last_tx_ring)
		die("%s: %s needs TX rings, but %s binds none", g->port,
		    mode_names[g->mode], g->port);
	if (g->mode != MODE_TX && g->d->first_rx_ring > g->d->last_rx_ring)
		die("%s: %s needs RX rings, but %s binds none", g->port,
		    mode_names[g->mode], g->port);
	if (g->mode == MODE_TX || g->mode == MODE_PING) {
		g->tx = NETMAP_TXRING(g->d->nifp, g->d->first_tx_ring);
		if (g->len > g->tx->nr_buf_size)
			die("-l %u: longer than a netmap buffer (%u bytes)", g->len,
			    g->tx->nr_buf_size);
	}
	read_mac(g);
}

int main(int argc, char **argv)
{
	static struct nmgen gen;	/* static: the sequence window is 8 KiB */
	struct nmgen *g = &gen;
	struct sigaction sa = { .sa_handler = on_signal };

	parse_args(g, argc, argv);
	if (!g->nonce_given && getrandom(&g->nonce, sizeof(g->nonce), 0) != sizeof(g->nonce))
		g->nonce = now_ns() ^ ((uint64_t)getpid() << 32);
	open_port(g);
	frame_template(g);

	/* no SA_RESTART: Ctrl-C must interrupt poll() so the report still comes */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (g->mode == MODE_TX || g->mode == MODE_PING)
		fprintf(stderr, "nmgen: %s on %s, nonce 0x%016" PRIx64 "\n",
			mode_names[g->mode], g->port, g->nonce);
	switch (g->mode) {
	case MODE_TX:
		run_tx(g);
		break;
	case MODE_RX:
		run_rx(g);
		break;
	case MODE_PING:
		run_ping(g);
		break;
	case MODE_PONG:
		run_pong(g);
		break;
	}
	report(g);
	nm_close(g->d);
	free(g->rtt_ns);
	return 0;
}
