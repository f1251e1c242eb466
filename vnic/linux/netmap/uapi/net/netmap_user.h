/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * net/netmap_user.h - netmap's user-space helpers, written for ringlab
 *
 * The documented netmap programming interface on top of the ABI in
 * net/netmap.h (specs/netmap-abi.md, "spec" below):
 *
 *   - address arithmetic: NETMAP_IF, NETMAP_TXRING, NETMAP_RXRING,
 *     NETMAP_BUF, NETMAP_BUF_IDX (spec 5);
 *   - ring arithmetic: nm_ring_next, nm_ring_space, nm_ring_empty,
 *     nm_tx_pending (spec 5, 6.1);
 *   - with NETMAP_WITH_LIBS defined before the #include, the small
 *     header-only library of the netmap(4) man page: struct nm_desc,
 *     nm_open, nm_close, nm_inject, nm_nextpkt, nm_dispatch (spec 8.2).
 *
 * None of the helpers makes a system call except nm_open and nm_close:
 * filling or emptying slots only moves head and cur; the program decides
 * when to hand the work to the kernel (ioctl NIOCTXSYNC / NIOCRXSYNC or
 * poll).  That is the whole point of netmap: one system call per batch.
 *
 * Ring words, as everywhere in ringlab:
 *
 *        head            cur                 tail
 *   ... --+--------------+--------------------+-- ...
 *         |  the program's slots [head, tail)  |  the kernel's [tail, head)
 *
 * Everything here is a macro or a static inline function, so a program
 * needs no library to link against.
 */
#ifndef _NET_NETMAP_USER_H_
#define _NET_NETMAP_USER_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <net/if.h>		/* IFNAMSIZ, for programs that use it */

#include <net/netmap.h>

/* ------------------------------------------------------------------ */
/* Address arithmetic (spec 5): the region holds offsets, not pointers */
/* ------------------------------------------------------------------ */

/* the netmap_if of a registration: nr_offset bytes into the mapping */
#define NETMAP_IF(_base, _ofs) \
	((struct netmap_if *)((char *)(_base) + (_ofs)))

/*
 * Ring i of a direction.  ring_ofs[] lists the T NIC TX rings, the host TX
 * rings, then the RX rings (NIC first, host after), each entry relative to
 * the netmap_if itself; host TX ring k is TX ring T + k.
 */
#define NETMAP_TXRING(_nifp, _i) \
	((struct netmap_ring *)((char *)(_nifp) + (_nifp)->ring_ofs[(_i)]))

#define NETMAP_RXRING(_nifp, _i)					\
	((struct netmap_ring *)((char *)(_nifp) +			\
		(_nifp)->ring_ofs[(_i) + (_nifp)->ni_tx_rings +		\
				  (_nifp)->ni_host_tx_rings]))

/*
 * Buffer idx of the region, found through any ring of it: buf_ofs leads
 * from the ring to buffer 0.  The product is computed in size_t: a pool of
 * 2 KiB buffers passes 4 GiB at two million buffers.
 */
#define NETMAP_BUF(_ring, _idx)						\
	((char *)(_ring) + (_ring)->buf_ofs +				\
	 (size_t)(_idx) * (_ring)->nr_buf_size)

/* the inverse: which buffer index an address inside the pool is in */
#define NETMAP_BUF_IDX(_ring, _buf)					\
	((uint32_t)(((const char *)(_buf) -				\
		     ((const char *)(_ring) + (_ring)->buf_ofs)) /	\
		    (_ring)->nr_buf_size))

/* with per-slot offsets (offset_mask is 0 without them) */
#define NETMAP_ROFFSET(_ring, _slot)	((_slot)->ptr & (_ring)->offset_mask)
#define NETMAP_BUF_OFFSET(_ring, _slot) \
	(NETMAP_BUF(_ring, (_slot)->buf_idx) + NETMAP_ROFFSET(_ring, _slot))

/* ------------------------------------------------------------------ */
/* Ring arithmetic (spec 5, 6.1)                                       */
/* ------------------------------------------------------------------ */

/*
 * The slot after i.  A compare, not "% num_slots": rings need not be a
 * power of two, and a division per packet is what netmap avoids.
 */
/* a stack port's slot: the socket it carries data of, and where the data starts */
static inline int32_t nm_pst_getfd(const struct netmap_slot *slot)
{
	return (int32_t)((slot->ptr & NM_PST_FD_MASK) >> NM_PST_FD_SHIFT);
}

static inline void nm_pst_setfd(struct netmap_slot *slot, int32_t fd)
{
	slot->ptr = (slot->ptr & ~NM_PST_FD_MASK) |
		    (((uint64_t)(uint32_t)fd << NM_PST_FD_SHIFT) & NM_PST_FD_MASK);
}

static inline uint32_t nm_pst_getdoff(const struct netmap_slot *slot)
{
	return (uint32_t)((slot->ptr & NM_PST_DOFF_MASK) >> NM_PST_DOFF_SHIFT);
}

static inline void nm_pst_setdoff(struct netmap_slot *slot, uint32_t doff)
{
	slot->ptr = (slot->ptr & ~NM_PST_DOFF_MASK) |
		    (((uint64_t)doff << NM_PST_DOFF_SHIFT) & NM_PST_DOFF_MASK);
}

static inline void nm_pst_reset_fddoff(struct netmap_slot *slot)
{
	slot->ptr &= ~(NM_PST_FD_MASK | NM_PST_DOFF_MASK);
}

static inline uint32_t nm_ring_next(const struct netmap_ring *ring,
				    uint32_t i)
{
	return i + 1 == ring->num_slots ? 0 : i + 1;
}

/*
 * Slots the program owns now, [head, tail): free slots on a TX ring,
 * received frames on an RX ring.
 */
static inline uint32_t nm_ring_space(const struct netmap_ring *ring)
{
	int space = (int)ring->tail - (int)ring->head;

	if (space < 0)
		space += ring->num_slots;
	return space;
}

/* nothing owned by the program: TX ring full, or nothing received */
static inline int nm_ring_empty(const struct netmap_ring *ring)
{
	return ring->head == ring->tail;
}

/*
 * A TX ring still has slots the NIC has not finished: the kernel always
 * keeps one slot as the gap, so a drained ring has head == tail + 1.
 */
static inline int nm_tx_pending(const struct netmap_ring *ring)
{
	return nm_ring_next(ring, ring->tail) != ring->head;
}

#ifdef NETMAP_WITH_LIBS
/* ------------------------------------------------------------------ */
/* The nm_open library (spec 8.2)                                      */
/* ------------------------------------------------------------------ */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

/* the pcap-like description of one received slot */
struct nm_pkthdr {
	struct timeval ts;	/* the ring's time of its last sync */
	uint32_t caplen;	/* bytes in this slot */
	uint32_t len;		/* same: nothing is truncated */
	uint64_t flags;		/* the slot's NS_* flags (NS_MOREFRAG...) */
	struct nm_desc *d;	/* where it came from ... */
	struct netmap_slot *slot;	/* ... and which slot, for buffer swaps */
	uint8_t *buf;
};

/* counters in the style of struct pcap_stat */
struct nm_stat {
	unsigned int ps_recv;	/* slots handed out by nm_nextpkt/nm_dispatch */
	unsigned int ps_drop;
	unsigned int ps_ifdrop;
};

#define NM_ERRBUF_SIZE	512

/**
 * struct nm_desc - one open netmap port, as nm_open returns it
 *
 * Not part of the kernel ABI: user-space bookkeeping only.  The ring
 * ranges are inclusive ([first, last]) and index the rings of each
 * direction as NETMAP_TXRING / NETMAP_RXRING do; cur_*_ring is where
 * nm_inject and nm_nextpkt continue, round robin.  An empty range (only
 * RX or only TX rings bound) has first > last.
 */
struct nm_desc {
	struct nm_desc *self;	/* == this: tells a descriptor from junk */
	int fd;
	void *mem;		/* the mapped region */
	uint32_t memsize;
	int done_mmap;		/* we mapped mem (else: the parent's) */
	struct netmap_if *nifp;
	uint16_t first_tx_ring, last_tx_ring, cur_tx_ring;
	uint16_t first_rx_ring, last_rx_ring, cur_rx_ring;
	struct nmreq req;	/* the registration, as the kernel answered */
	struct nm_pkthdr hdr;	/* filled by nm_dispatch */

	const struct netmap_ring *some_ring;	/* any bound ring: finds buffers */
	const void *buf_start;	/* buffer 0 ... */
	const void *buf_end;	/* ... and the end of the region */

	/* pcap-style parameters, kept for programs that set them */
	int snaplen;
	int promisc;
	int to_ms;
	char *errbuf;
	uint32_t if_flags;
	uint32_t if_reqcap;
	uint32_t if_curcap;

	struct nm_stat st;
	char msg[NM_ERRBUF_SIZE];
};

/* the file descriptor to poll() or ioctl() */
#define NETMAP_FD(_d)		((_d)->fd)

/* what nm_open takes from the parent descriptor (spec 8.2) */
#define NM_OPEN_NO_MMAP		0x040000	/* share the parent's mapping */
#define NM_OPEN_IFNAME		0x080000	/* the parent's port name */
#define NM_OPEN_ARG1		0x100000	/* its nr_arg1 */
#define NM_OPEN_ARG2		0x200000	/* its nr_arg2 (memory region) */
#define NM_OPEN_ARG3		0x400000	/* its nr_arg3 (extra buffers) */
#define NM_OPEN_RING_CFG	0x800000	/* its ring and slot counts */
/* the low 16 bits may carry these, for nr_ringid */
#define NM_OPEN_POLL_FLAGS	(NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL)

typedef void (*nm_cb_t)(unsigned char *arg, const struct nm_pkthdr *hdr,
			const unsigned char *buf);

/* parse a decimal number at *p (advancing *p); -1 if there is none */
static inline long nm_parse_number(const char **p, long max)
{
	long value = 0;

	if (**p < '0' || **p > '9')
		return -1;
	while (**p >= '0' && **p <= '9') {
		value = value * 10 + (**p - '0');
		if (value > max)
			return -1;
		(*p)++;
	}
	return value;
}

/**
 * nm_parse_name() - turn a port name into the fields of a struct nmreq
 * @ifname: "netmap:IF" or "valeX:P", then an optional ring suffix
 *	(-N one ring pair, ^ host rings, * NIC and host rings, {N }N pipe
 *	ends), then optional /flags (x exclusive, R only RX rings, T only TX
 *	rings, r t z monitors) and @N (memory region), spec 7.2
 * @req: nr_name, nr_flags (mode and flags), nr_ringid, nr_arg2 are set
 * @msg: room for an error message (NM_ERRBUF_SIZE bytes)
 *
 * Return: 0, or an errno value (EINVAL for a malformed name).
 */
static inline int nm_parse_name(const char *ifname, struct nmreq *req,
				char *msg)
{
	const char *name, *p;
	size_t namelen;
	uint32_t mode = NR_REG_ALL_NIC, flags = 0;
	long ring = 0, mem_id;

	if (strncmp(ifname, "netmap:", 7) == 0)
		name = ifname + 7;	/* the kernel never sees "netmap:" */
	else
		name = ifname;		/* "vale..." names keep their prefix */
	namelen = strcspn(name, "-^*{}/@");
	if (namelen == 0 || namelen >= sizeof(req->nr_name)) {
		snprintf(msg, NM_ERRBUF_SIZE, "%s: port name %s", ifname,
			 namelen ? "too long" : "missing");
		return EINVAL;
	}
	p = name + namelen;

	switch (*p) {
	case '-':
		p++;
		mode = NR_REG_ONE_NIC;
		ring = nm_parse_number(&p, NETMAP_RING_MASK - 1);
		break;
	case '^':
		p++;
		mode = NR_REG_SW;
		if (*p >= '0' && *p <= '9') {
			mode = NR_REG_ONE_SW;
			ring = nm_parse_number(&p, NETMAP_RING_MASK - 1);
		}
		break;
	case '*':
		p++;
		mode = NR_REG_NIC_SW;
		break;
	case '{':
	case '}':
		mode = *p == '{' ? NR_REG_PIPE_MASTER : NR_REG_PIPE_SLAVE;
		p++;
		ring = nm_parse_number(&p, NETMAP_RING_MASK - 1);
		break;
	}
	if (ring < 0) {
		snprintf(msg, NM_ERRBUF_SIZE, "%s: bad ring number", ifname);
		return EINVAL;
	}

	if (*p == '/') {
		for (p++; *p && *p != '@'; p++) {
			switch (*p) {
			case 'x':
				flags |= NR_EXCLUSIVE;
				break;
			case 'z':
				flags |= NR_ZCOPY_MON;
				break;
			case 't':
				flags |= NR_MONITOR_TX;
				break;
			case 'r':
				flags |= NR_MONITOR_RX;
				break;
			case 'R':
				flags |= NR_RX_RINGS_ONLY;
				break;
			case 'T':
				flags |= NR_TX_RINGS_ONLY;
				break;
			default:
				snprintf(msg, NM_ERRBUF_SIZE,
					 "%s: unknown flag '%c'", ifname, *p);
				return EINVAL;
			}
		}
	}

	if (*p == '@') {
		p++;
		mem_id = nm_parse_number(&p, 0xffff);
		if (mem_id <= 0) {
			snprintf(msg, NM_ERRBUF_SIZE,
				 "%s: bad memory region id", ifname);
			return EINVAL;
		}
		req->nr_arg2 = (uint16_t)mem_id;
	}

	if (*p != '\0') {
		snprintf(msg, NM_ERRBUF_SIZE, "%s: unexpected \"%s\"",
			 ifname, p);
		return EINVAL;
	}

	memset(req->nr_name, 0, sizeof(req->nr_name));
	memcpy(req->nr_name, name, namelen);
	req->nr_flags = mode | flags;
	req->nr_ringid = (uint16_t)ring;
	return 0;
}

/*
 * Which rings of one direction the registration bound (spec 8.2), as an
 * inclusive range.  @count is the port's NIC ring count of the direction;
 * host rings follow the NIC rings.
 */
static inline void nm_ring_range(const struct nmreq *req, uint16_t count,
				 uint16_t *first, uint16_t *last)
{
	uint16_t ring = req->nr_ringid & NETMAP_RING_MASK;

	switch (req->nr_flags & NR_REG_MASK) {
	case NR_REG_SW:
		*first = *last = count;
		break;
	case NR_REG_ONE_SW:
		*first = *last = count + ring;
		break;
	case NR_REG_NIC_SW:
		*first = 0;
		*last = count;
		break;
	case NR_REG_ONE_NIC:
		/* a ring the direction does not have: the kernel binds 0 */
		*first = *last = ring < count ? ring : 0;
		break;
	case NR_REG_PIPE_MASTER:
	case NR_REG_PIPE_SLAVE:
		*first = *last = 0;	/* a pipe has one ring pair */
		break;
	default:		/* ALL_NIC, NULL */
		*first = 0;
		*last = count ? count - 1 : 0;
		break;
	}
}

/**
 * nm_open() - open, register and map a netmap port
 * @ifname: port name, see nm_parse_name(); names that start with neither
 *	"netmap:" nor "vale" are not netmap ports: NULL with errno 0
 * @req: ring and slot counts to ask for (may be NULL)
 * @flags: NM_OPEN_* (what to take from @parent), and NETMAP_NO_TX_POLL /
 *	NETMAP_DO_RX_POLL
 * @parent: an open descriptor, or NULL.  If it maps the same memory
 *	region (the usual case for the rings of one NIC) its mapping is
 *	shared instead of mapping the region a second time.
 *
 * Uses the legacy NIOCREGIF request (struct nmreq, spec 8.1), which every
 * netmap kernel since API 11 understands.
 *
 * Return: the descriptor, or NULL with errno set.
 */
static inline struct nm_desc *nm_open(const char *ifname,
				      const struct nmreq *req,
				      uint64_t flags,
				      const struct nm_desc *parent)
{
	struct nm_desc *d;
	uint16_t tx_count, rx_count;
	int err;

	if (strncmp(ifname, "netmap:", 7) != 0 &&
	    strncmp(ifname, "vale", 4) != 0) {
		errno = 0;	/* not an error: not ours */
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->self = d;
	d->fd = -1;
	if (req)
		d->req = *req;

	err = nm_parse_name(ifname, &d->req, d->msg);
	if (err)
		goto fail;
	if (parent) {
		if (flags & NM_OPEN_IFNAME)
			memcpy(d->req.nr_name, parent->req.nr_name,
			       sizeof(d->req.nr_name));
		if (flags & NM_OPEN_ARG1)
			d->req.nr_arg1 = parent->req.nr_arg1;
		if (flags & NM_OPEN_ARG2)
			d->req.nr_arg2 = parent->req.nr_arg2;
		if (flags & NM_OPEN_ARG3)
			d->req.nr_arg3 = parent->req.nr_arg3;
		if (flags & NM_OPEN_RING_CFG) {
			d->req.nr_tx_slots = parent->req.nr_tx_slots;
			d->req.nr_rx_slots = parent->req.nr_rx_slots;
			d->req.nr_tx_rings = parent->req.nr_tx_rings;
			d->req.nr_rx_rings = parent->req.nr_rx_rings;
		}
	}
	d->req.nr_version = NETMAP_API;
	d->req.nr_cmd = 0;	/* register, not a VALE command */
	d->req.nr_ringid |= flags & NM_OPEN_POLL_FLAGS;

	d->fd = open(NETMAP_DEVICE_NAME, O_RDWR);
	if (d->fd < 0) {
		err = errno;
		snprintf(d->msg, sizeof(d->msg), "open %s: %s",
			 NETMAP_DEVICE_NAME, strerror(err));
		goto fail;
	}
	if (ioctl(d->fd, NIOCREGIF, &d->req) < 0) {
		err = errno;
		snprintf(d->msg, sizeof(d->msg), "NIOCREGIF %s: %s",
			 d->req.nr_name, strerror(err));
		goto fail;
	}

	if (parent && parent->mem && parent->req.nr_arg2 == d->req.nr_arg2) {
		/* same region: one mapping serves both (and lets them swap buffers) */
		d->mem = parent->mem;
		d->memsize = parent->memsize;
	} else if (flags & NM_OPEN_NO_MMAP) {
		err = EINVAL;
		snprintf(d->msg, sizeof(d->msg),
			 "%s: NM_OPEN_NO_MMAP, but not the parent's region",
			 d->req.nr_name);
		goto fail;
	} else {
		d->memsize = d->req.nr_memsize;
		d->mem = mmap(NULL, d->memsize, PROT_READ | PROT_WRITE,
			      MAP_SHARED, d->fd, 0);
		if (d->mem == MAP_FAILED) {
			err = errno;
			d->mem = NULL;
			snprintf(d->msg, sizeof(d->msg), "mmap: %s",
				 strerror(err));
			goto fail;
		}
		d->done_mmap = 1;
	}
	d->nifp = NETMAP_IF(d->mem, d->req.nr_offset);

	tx_count = d->req.nr_tx_rings;
	rx_count = d->req.nr_rx_rings;
	nm_ring_range(&d->req, tx_count, &d->first_tx_ring, &d->last_tx_ring);
	nm_ring_range(&d->req, rx_count, &d->first_rx_ring, &d->last_rx_ring);
	/* a direction left unbound by /R or /T: an empty range, no ring */
	if (d->req.nr_flags & NR_RX_RINGS_ONLY) {
		d->first_tx_ring = 1;
		d->last_tx_ring = 0;
	}
	if (d->req.nr_flags & NR_TX_RINGS_ONLY) {
		d->first_rx_ring = 1;
		d->last_rx_ring = 0;
	}
	d->cur_tx_ring = d->first_tx_ring;
	d->cur_rx_ring = d->first_rx_ring;

	if (d->first_tx_ring <= d->last_tx_ring)
		d->some_ring = NETMAP_TXRING(d->nifp, d->first_tx_ring);
	else
		d->some_ring = NETMAP_RXRING(d->nifp, d->first_rx_ring);
	d->buf_start = NETMAP_BUF(d->some_ring, 0);
	d->buf_end = (char *)d->mem + d->memsize;
	return d;

fail:
	if (d->done_mmap)
		munmap(d->mem, d->memsize);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	errno = err;
	return NULL;
}

/**
 * nm_close() - unmap (unless the mapping was the parent's) and close
 * @d: a descriptor from nm_open
 *
 * Closing the file descriptor unbinds the rings; slots not yet synced are
 * simply dropped.
 *
 * Return: 0, or -1 with errno EINVAL for something that is not a descriptor.
 */
static inline int nm_close(struct nm_desc *d)
{
	if (!d || d->self != d) {
		errno = EINVAL;
		return -1;
	}
	if (d->done_mmap && d->mem)
		munmap(d->mem, d->memsize);
	if (d->fd >= 0)
		close(d->fd);
	d->self = NULL;
	free(d);
	return 0;
}

/**
 * nm_inject() - copy one frame into the next free TX slot(s)
 * @d: the port
 * @buf: the frame
 * @size: its length; a frame longer than a buffer takes several slots,
 *	all but the last marked NS_MOREFRAG
 *
 * Tries the bound TX rings round robin from cur_tx_ring and advances head
 * and cur of the ring that took the frame.  No system call: the frame
 * leaves at the next NIOCTXSYNC or poll().
 *
 * Return: @size, or 0 if no bound ring has room now.
 */
static inline int nm_inject(struct nm_desc *d, const void *buf, size_t size)
{
	uint16_t ri = d->cur_tx_ring;
	unsigned int tried, rings;

	if (d->first_tx_ring > d->last_tx_ring)
		return 0;
	rings = d->last_tx_ring - d->first_tx_ring + 1;
	for (tried = 0; tried < rings; tried++) {
		struct netmap_ring *ring = NETMAP_TXRING(d->nifp, ri);
		uint32_t bufsize = ring->nr_buf_size;
		uint32_t need = size ? (size + bufsize - 1) / bufsize : 1;
		const char *from = (const char *)buf;
		size_t left = size;
		uint32_t i = ring->head;

		if (need <= nm_ring_space(ring) && need <= NETMAP_MAX_FRAGS) {
			for (;;) {
				struct netmap_slot *slot = &ring->slot[i];
				uint32_t n = left < bufsize ? left : bufsize;

				memcpy(NETMAP_BUF(ring, slot->buf_idx), from, n);
				slot->len = n;
				from += n;
				left -= n;
				i = nm_ring_next(ring, i);
				if (left == 0) {
					slot->flags &= ~NS_MOREFRAG;
					break;
				}
				slot->flags |= NS_MOREFRAG;
			}
			ring->head = ring->cur = i;
			d->cur_tx_ring = ri;
			return (int)size;
		}
		ri = ri == d->last_tx_ring ? d->first_tx_ring : ri + 1;
	}
	return 0;
}

/*
 * The next received slot on the bound RX rings, round robin from
 * cur_rx_ring; fills @hdr and hands the slot back (head and cur move past
 * it).  NULL if nothing is waiting.
 */
static inline struct netmap_ring *nm_rx_take(struct nm_desc *d,
					     struct nm_pkthdr *hdr)
{
	uint16_t ri = d->cur_rx_ring;
	unsigned int tried, rings;

	if (d->first_rx_ring > d->last_rx_ring)
		return NULL;
	rings = d->last_rx_ring - d->first_rx_ring + 1;
	for (tried = 0; tried < rings; tried++) {
		struct netmap_ring *ring = NETMAP_RXRING(d->nifp, ri);

		if (!nm_ring_empty(ring)) {
			struct netmap_slot *slot = &ring->slot[ring->head];

			hdr->ts.tv_sec = ring->ts.tv_sec;
			hdr->ts.tv_usec = ring->ts.tv_usec;
			hdr->caplen = hdr->len = slot->len;
			hdr->flags = slot->flags;
			hdr->d = d;
			hdr->slot = slot;
			hdr->buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);
			ring->head = ring->cur = nm_ring_next(ring, ring->head);
			d->cur_rx_ring = ri;
			d->st.ps_recv++;
			return ring;
		}
		ri = ri == d->last_rx_ring ? d->first_rx_ring : ri + 1;
	}
	return NULL;
}

/**
 * nm_nextpkt() - the next received frame, pcap_next() style
 * @d: the port
 * @hdr: filled with the slot's length, flags and the ring's time stamp
 *
 * The slot goes back to the kernel at the next sync, so the buffer is
 * valid until the program's next NIOCRXSYNC or poll() on @d.  One slot is
 * one call: a frame in several slots (NS_MOREFRAG in hdr->flags) comes as
 * several.  No system call.
 *
 * Return: the frame's bytes, or NULL if nothing is waiting.
 */
static inline unsigned char *nm_nextpkt(struct nm_desc *d,
					struct nm_pkthdr *hdr)
{
	return nm_rx_take(d, hdr) ? hdr->buf : NULL;
}

/**
 * nm_dispatch() - call @cb for received frames, pcap_dispatch() style
 * @d: the port
 * @cnt: at most this many frames; 0 or less: all that are waiting
 * @cb: called with @arg, d->hdr and the frame's bytes; it may swap the
 *	slot's buffer through hdr->slot (set NS_BUF_CHANGED)
 * @arg: passed through
 *
 * No system call: this consumes what the last sync exposed.
 *
 * Return: the number of frames handed to @cb.
 */
static inline int nm_dispatch(struct nm_desc *d, int cnt, nm_cb_t cb,
			      unsigned char *arg)
{
	int done = 0;

	while (cnt <= 0 || done < cnt) {
		if (!nm_rx_take(d, &d->hdr))
			break;
		cb(arg, &d->hdr, d->hdr.buf);
		done++;
	}
	return done;
}

#endif /* NETMAP_WITH_LIBS */

#endif /* _NET_NETMAP_USER_H_ */
