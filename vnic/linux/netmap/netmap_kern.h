/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netmap_kern.h - what a NIC driver sees of ringlab's netmap.ko
 *
 * A driver with a native netmap adapter attaches a *port* to its netdev
 * (nm_port_attach) and gives netmap.ko four operations: switch the NIC's
 * rings between netmap buffers and the kernel stack (reg), move slots to and
 * from the hardware (txsync, rxsync) and enable a ring's interrupt before
 * poll() sleeps (arm_irq).  Everything else -- the /dev/netmap device, the
 * shared memory, the checks of what user space wrote, poll(), the host-stack
 * rings -- is netmap.ko's.
 *
 * Ring words (spec 6.1; the same in vnic.h and the docs):
 *
 *   kring->hwcur   next slot to hand to the hardware (TX) or to give back
 *                  to it (RX); the driver moves it up to kring->rhead
 *   kring->hwtail  TX: the program may fill [rhead, hwtail): hwtail is the
 *                  slot before the oldest one the NIC has not completed
 *                  (n - 1 when the ring is idle after reg);
 *                  RX: [hwcur, hwtail) hold received frames (0 after reg)
 *   kring->rhead   the program's head, already validated for this sync
 *
 * A sync runs with the kring claimed (one sync per ring at a time) and the
 * port's sync lock held for reading; reg runs with RTNL and the sync lock
 * held for writing, so no sync runs while the rings change hands.
 */
#ifndef _NETMAP_KERN_H_
#define _NETMAP_KERN_H_

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/rwsem.h>
#include <linux/skbuff.h>
#include <linux/wait.h>

#include "uapi/net/netmap.h"

enum nm_txrx { NM_TX = 0, NM_RX = 1, NM_DIRS };

/* sync flags */
#define NM_SYNC_POLL	0x1	/* called from poll(), not an ioctl */

struct nm_port;

/**
 * struct nm_kring - the kernel's side of one netmap ring
 * @ring: the ring shared with the program (kernel address)
 * @port: the port it belongs to
 * @nr_slots: slots in the ring (the NIC ring's descriptor count)
 * @ring_id: index within its direction; host rings follow the NIC rings
 * @dir: NM_TX or NM_RX
 * @host: a host-stack ring (served by netmap.ko, not the driver)
 * @hwcur: see the ring words above
 * @hwtail: see the ring words above
 * @rhead: the program's head, validated by the prologue of this sync
 * @rcur: the program's cur, validated likewise
 * @rtail: the tail the kernel last gave the program
 * @busy: claimed by a sync (atomic try-lock: a second sync skips the ring)
 * @users: file descriptors that bind this ring
 * @exclusive: bound with NR_EXCLUSIVE
 * @syncs: syncs of this ring (statistics)
 * @slots: slots the syncs moved (TX: handed to the NIC; RX: received)
 * @bad_syncs: syncs refused because the program's indices were invalid
 * @drops: host RX ring: frames from the stack dropped because it was full
 * @driver: free for the driver's per-ring state
 */
struct nm_kring {
	struct netmap_ring *ring;
	struct nm_port *port;
	u32 nr_slots;
	u16 ring_id;
	enum nm_txrx dir;
	bool host;

	u32 hwcur;
	u32 hwtail;
	u32 rhead;
	u32 rcur;
	u32 rtail;

	atomic_t busy;
	unsigned int users;
	bool exclusive;

	u64 syncs;
	u64 slots;
	u64 bad_syncs;
	u64 drops;

	void *driver;
};

/**
 * struct nm_port_ops - a native adapter's operations
 * @reg: @on: point the NIC's rings at the krings' netmap buffers and keep
 *	the kernel stack away from them; !@on: give them back to the stack.
 *	Called with RTNL held and no sync running.  Return 0 or -errno.
 * @txsync: hand slots [hwcur, rhead) to the NIC (one doorbell), set
 *	hwcur = rhead; reclaim completed slots from write-back and advance
 *	hwtail.  Return 0 or -errno.
 * @rxsync: append the frames the NIC wrote back after hwtail (slot len,
 *	flags 0); give slots [hwcur, rhead) back to the NIC (one doorbell),
 *	set hwcur = rhead.  Return 0 or -errno.
 * @arm_irq: poll() found nothing on @kring and is about to sleep: let the
 *	ring's interrupt fire (it calls nm_port_irq).
 * @stack_rx: optional, StackMap's zero-copy receive.  @pool: while the
 *	kernel owns the rings, receive into pages from nm_rx_pool_get() and
 *	hand the stack header-split skbs (the headers copied, the payload a
 *	frag of the page).  NULL: stop taking pages from it (the pool lives
 *	on while the port does; pages in descriptors go on as they are).
 *	RTNL held.
 */
struct nm_rx_pool;

struct nm_port_ops {
	int (*reg)(struct nm_port *port, bool on);
	int (*txsync)(struct nm_kring *kring, unsigned int flags);
	int (*rxsync)(struct nm_kring *kring, unsigned int flags);
	void (*arm_irq)(struct nm_kring *kring);
	void (*stack_rx)(struct nm_port *port, struct nm_rx_pool *pool);
};

struct nm_mem;

/**
 * struct nm_port - a netdev that netmap programs can open
 *
 * Allocated by nm_port_attach() and reference counted: the driver holds one
 * reference until nm_port_detach(), every bound file descriptor another, so
 * a program may outlive the driver (its syncs then fail with ENXIO).
 *
 * Set by the driver (nm_port_attach, then whenever it changes them while
 * the port is not active, e.g. ethtool -L/-G):
 * @netdev: the interface
 * @dma_dev: the device that DMAs to the buffers
 * @owner: the driver's module (held while programs have the port open)
 * @ops: the adapter's operations
 * @num_tx_rings: hardware TX rings
 * @num_rx_rings: hardware RX rings
 * @num_tx_desc: slots per TX ring
 * @num_rx_desc: slots per RX ring
 * @driver: free for the driver (its adapter)
 *
 * netmap.ko's own:
 * @active: the rings are in netmap mode (read with nm_port_active)
 * @tx_rings: num_tx_rings NIC krings, then one host kring (while active)
 * @rx_rings: likewise for RX
 */
struct nm_port {
	struct net_device *netdev;
	struct device *dma_dev;
	struct module *owner;
	const struct nm_port_ops *ops;
	u16 num_tx_rings;
	u16 num_rx_rings;
	u32 num_tx_desc;
	u32 num_rx_desc;
	void *driver;

	bool active;
	struct nm_kring *tx_rings;
	struct nm_kring *rx_rings;

	/* private to netmap.ko */
	struct kref ref;
	struct list_head list;
	struct mutex lock;		/* activation, binding */
	struct rw_semaphore sync_lock;	/* syncs: read; reg, detach: write */
	bool dead;			/* the driver detached */
	unsigned int users;		/* bound file descriptors */
	u16 kring_count[NM_DIRS];	/* NIC rings while active */
	u32 host_rx_limit;		/* frames queued for the host RX ring */
	struct nm_mem *mem;
	dma_addr_t *page_dma;		/* the pool's pages as @dma_dev sees them */
	wait_queue_head_t wq[NM_DIRS];
	struct sk_buff_head host_rxq;	/* frames from the stack */
	bool stack_port;		/* "stack:" + netdev: StackMap's */
	struct nm_port *stack;		/* a NIC's stack port, once opened */
	u64 ioctls, polls, host_drops;
	u64 total_syncs[NM_DIRS], total_slots[NM_DIRS];	/* of past activations */
};

/* driver side */
struct nm_port *nm_port_attach(struct net_device *netdev,
			       struct device *dma_dev, struct module *owner,
			       const struct nm_port_ops *ops, void *driver);
void nm_port_detach(struct nm_port *port);

static inline bool nm_port_active(const struct nm_port *port)
{
	return port && READ_ONCE(port->active);
}

/* the ring's slots are in netmap mode: wake poll() sleepers of queue @q */
void nm_port_irq(struct nm_port *port, unsigned int q);

/*
 * While active, frames the stack sends out of the interface go here
 * (ndo_start_xmit): they appear on the host RX ring.  Consumes @skb.
 */
netdev_tx_t nm_host_xmit(struct nm_port *port, struct sk_buff *skb);

/*
 * A driver that must reprogram its rings while active (a device reset)
 * stops every sync first.
 */
void nm_port_stop_syncs(struct nm_port *port);
void nm_port_start_syncs(struct nm_port *port);

/*
 * The buffer of @slot for DMA, checked (spec 6.4): a buf_idx outside the
 * pool (or a reserved one) is replaced by buffer 0 and logged, a length
 * over the buffer size is clamped.  @len may be NULL (RX).
 */
dma_addr_t nm_slot_dma(struct nm_kring *kring, struct netmap_slot *slot,
		       unsigned int *len);
/* the kernel address of @slot's buffer, checked the same way */
void *nm_slot_addr(struct nm_kring *kring, struct netmap_slot *slot);

/* @page holds netmap buffers (a frag sent with no copy); any context */
bool nm_page_in_region(struct page *page);

/*
 * StackMap's receive pool (@stack_rx): a page to receive one frame into at
 * *@offset, with a reference that is the caller's (a frag takes it over,
 * put_page gives it back), or NULL when the pool has none free.  Softirq
 * or process context.
 */
struct page *nm_rx_pool_get(struct nm_rx_pool *pool, unsigned int *offset);

/* the buffer size of every netmap buffer (the NIC's RX buffer size) */
#define NM_BUF_SIZE	2048

static inline u32 nm_next(const struct nm_kring *kring, u32 i)
{
	return i + 1 == kring->nr_slots ? 0 : i + 1;
}

static inline u32 nm_prev(const struct nm_kring *kring, u32 i)
{
	return i ? i - 1 : kring->nr_slots - 1;
}

/* slots from @from forward to @to, around the ring */
static inline u32 nm_distance(const struct nm_kring *kring, u32 from, u32 to)
{
	return to >= from ? to - from : to + kring->nr_slots - from;
}

#endif /* _NETMAP_KERN_H_ */
