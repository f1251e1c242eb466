// SPDX-License-Identifier: GPL-2.0
/*
 * nm_main.c - ringlab's netmap: /dev/netmap, ports, syncs and poll
 *
 * Written for ringlab from the ABI reference specs/netmap-abi.md ("spec"):
 * a program compiled for netmap API 14 opens /dev/netmap, registers a port
 * (NIOCCTRL, or the legacy NIOCREGIF), maps one region holding its
 * netmap_if, the rings and the buffers, and from then on moves frames by
 * writing slots and calling NIOCTXSYNC / NIOCRXSYNC / poll(): one system
 * call for a whole batch.
 *
 * What a program wrote is never trusted: every sync first checks head and
 * cur against what the kernel last gave out (the prologue, spec 6.4); a bad
 * ring is put back as it was (reinit), the call fails with EINVAL and one
 * rate-limited line goes to the log.  Slot buffer indices and lengths are
 * checked where a driver touches them (nm_slot_dma, nm_slot_addr).
 *
 * Locks, outermost first: a file's mutex (register), nm_ports_lock (the
 * port list), a port's mutex (binding, activation), RTNL, the port's sync
 * lock (syncs read, reg and detach write), a kring's busy bit.
 */

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/rtnetlink.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>

#include "nm_core.h"

static DEFINE_MUTEX(nm_ports_lock);
static LIST_HEAD(nm_ports);

/* a port's name as programs open it: "eth0", "stack:eth0" */
static void nm_port_name(const struct nm_port *port, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", port->stack_port ? NM_STACK_PREFIX : "",
		 port->netdev->name);
}

/* the NIC rings and the one host ring of a direction */
#define NM_HOST_RINGS	1

/**
 * struct nm_file - what one open /dev/netmap knows
 * @lock: serialises REGISTER on this file
 * @port: the bound port, set once (release/acquire), NULL before
 * @nifp: this file's netmap_if in the region
 * @first: first bound kring of each direction
 * @last: one past the last bound kring of each direction
 * @flags: the REGISTER request's nr_flags
 */
struct nm_file {
	struct mutex lock;
	struct nm_port *port;
	struct netmap_if *nifp;
	u32 first[NM_DIRS];
	u32 last[NM_DIRS];
	u64 flags;
};

static struct nm_kring *nm_krings(struct nm_port *port, enum nm_txrx d)
{
	return d == NM_TX ? port->tx_rings : port->rx_rings;
}

static void nm_port_free(struct kref *ref)
{
	struct nm_port *port = container_of(ref, struct nm_port, ref);

	skb_queue_purge(&port->host_rxq);
	kfree(port);
}

void nm_port_put(struct nm_port *port)
{
	kref_put(&port->ref, nm_port_free);
}

/* ------------------------------------------------------------------ */
/* Driver side                                                         */
/* ------------------------------------------------------------------ */

/**
 * nm_port_attach - make @netdev a port that netmap programs can open
 * @netdev: the interface (its name is the port name)
 * @dma_dev: the device that DMAs to the buffers
 * @owner: the driver's module, held while programs have the port open
 * @ops: the native adapter
 * @driver: the driver's private pointer (port->driver)
 *
 * Return: the port, or NULL if out of memory (the NIC then works without
 * netmap).
 */
struct nm_port *nm_port_attach(struct net_device *netdev,
			       struct device *dma_dev, struct module *owner,
			       const struct nm_port_ops *ops, void *driver)
{
	struct nm_port *port = nm_port_alloc(netdev, dma_dev, owner, ops,
					     driver);

	if (!port)
		return NULL;
	mutex_lock(&nm_ports_lock);
	list_add_tail(&port->list, &nm_ports);
	mutex_unlock(&nm_ports_lock);
	return port;
}
EXPORT_SYMBOL_GPL(nm_port_attach);

/* a port not yet in the list (a NIC's, or a stack port, which never is) */
struct nm_port *nm_port_alloc(struct net_device *netdev,
			      struct device *dma_dev, struct module *owner,
			      const struct nm_port_ops *ops, void *driver)
{
	struct nm_port *port = kzalloc(sizeof(*port), GFP_KERNEL);

	if (!port)
		return NULL;
	port->netdev = netdev;
	port->dma_dev = dma_dev;
	port->owner = owner;
	port->ops = ops;
	port->driver = driver;
	kref_init(&port->ref);
	mutex_init(&port->lock);
	init_rwsem(&port->sync_lock);
	init_waitqueue_head(&port->wq[NM_TX]);
	init_waitqueue_head(&port->wq[NM_RX]);
	skb_queue_head_init(&port->host_rxq);
	INIT_LIST_HEAD(&port->list);
	return port;
}

static void nm_port_unmap(struct nm_port *port)
{
	if (port->page_dma)
		nm_mem_dma_unmap(port->mem, port->dma_dev, port->page_dma);
	port->page_dma = NULL;
}

/**
 * nm_port_detach - the driver is going away
 * @port: its port
 *
 * Call without RTNL.  Waits for running syncs, gives the NIC back to the
 * stack and unmaps the buffers; programs that still have the port open
 * keep their memory, but their syncs fail with ENXIO and poll() reports
 * POLLERR.  netmap.ko never calls @port->ops after this returns.
 */
void nm_port_detach(struct nm_port *port)
{
	mutex_lock(&nm_ports_lock);
	list_del(&port->list);
	mutex_unlock(&nm_ports_lock);

	mutex_lock(&port->lock);
	nm_stack_detach(port);
	mutex_unlock(&port->lock);
	nm_port_kill(port);
}
EXPORT_SYMBOL_GPL(nm_port_detach);

/* out of netmap mode for good: syncs fail, sleepers wake; drops a ref */
void nm_port_kill(struct nm_port *port)
{
	mutex_lock(&port->lock);
	rtnl_lock();
	down_write(&port->sync_lock);
	if (port->active) {
		WRITE_ONCE(port->active, false);
		port->ops->reg(port, false);
	}
	nm_port_unmap(port);
	port->dead = true;
	up_write(&port->sync_lock);
	rtnl_unlock();
	mutex_unlock(&port->lock);

	wake_up_all(&port->wq[NM_TX]);
	wake_up_all(&port->wq[NM_RX]);
	skb_queue_purge(&port->host_rxq);
	nm_port_put(port);
}

/* any context; the queue's TX and RX share one vector */
void nm_port_irq(struct nm_port *port, unsigned int q)
{
	wake_up(&port->wq[NM_RX]);
	wake_up(&port->wq[NM_TX]);
}
EXPORT_SYMBOL_GPL(nm_port_irq);

/* for a driver that reprograms its rings while active; RTNL held */
void nm_port_stop_syncs(struct nm_port *port)
{
	down_write(&port->sync_lock);
}
EXPORT_SYMBOL_GPL(nm_port_stop_syncs);

void nm_port_start_syncs(struct nm_port *port)
{
	up_write(&port->sync_lock);
}
EXPORT_SYMBOL_GPL(nm_port_start_syncs);

static u32 nm_checked_idx(struct nm_kring *kring, struct netmap_slot *slot)
{
	u32 idx = READ_ONCE(slot->buf_idx);

	if (likely(nm_mem_buf_valid(kring->port->mem, idx)))
		return idx;
	pr_warn_ratelimited(NM_PFX "%s %s%u: slot %ld has bad buf_idx %u, using buffer 0\n",
			    kring->port->netdev->name,
			    kring->dir == NM_TX ? "tx" : "rx", kring->ring_id,
			    (long)(slot - kring->ring->slot), idx);
	return 0;
}

dma_addr_t nm_slot_dma(struct nm_kring *kring, struct netmap_slot *slot,
		       unsigned int *len)
{
	u32 idx = nm_checked_idx(kring, slot);

	if (len)
		*len = min_t(unsigned int, READ_ONCE(slot->len), NM_BUF_SIZE);
	return nm_mem_buf_dma(kring->port->page_dma, idx);
}
EXPORT_SYMBOL_GPL(nm_slot_dma);

void *nm_slot_addr(struct nm_kring *kring, struct netmap_slot *slot)
{
	return nm_mem_buf_addr(kring->port->mem, nm_checked_idx(kring, slot));
}
EXPORT_SYMBOL_GPL(nm_slot_addr);

/* ------------------------------------------------------------------ */
/* Activation: the krings, their rings and buffers                     */
/* ------------------------------------------------------------------ */

static void nm_krings_free(struct nm_port *port)
{
	enum nm_txrx d;
	u32 i, s;

	for (d = NM_TX; d < NM_DIRS; d++) {
		struct nm_kring *krings = nm_krings(port, d);

		if (!krings)
			continue;
		for (i = 0; i < port->kring_count[d] + NM_HOST_RINGS; i++) {
			struct nm_kring *kring = &krings[i];

			port->total_syncs[d] += kring->syncs;
			port->total_slots[d] += kring->slots;
			if (!kring->ring)
				continue;
			for (s = 0; s < kring->nr_slots; s++)
				nm_mem_buf_free(port->mem,
						kring->ring->slot[s].buf_idx);
			nm_mem_ring_free(port->mem, kring->ring);
		}
		kvfree(krings);
	}
	port->tx_rings = NULL;
	port->rx_rings = NULL;
}

static int nm_kring_init(struct nm_port *port, struct nm_kring *kring,
			 enum nm_txrx d, u16 id, u32 nr_slots)
{
	struct nm_mem *mem = port->mem;
	struct netmap_ring *ring;
	u32 s;

	kring->port = port;
	kring->dir = d;
	kring->ring_id = id;
	kring->host = id == port->kring_count[d];
	kring->nr_slots = nr_slots;
	atomic_set(&kring->busy, 0);
	ring = nm_mem_ring_alloc(mem, nr_slots);
	if (!ring)
		return -ENOMEM;
	kring->ring = ring;
	ring->buf_ofs = mem->buf_pool_ofs - nm_mem_ofs(mem, ring);
	ring->num_slots = nr_slots;
	ring->nr_buf_size = NM_BUF_SIZE;
	ring->ringid = id;
	ring->dir = d;
	for (s = 0; s < nr_slots; s++) {
		ring->slot[s].buf_idx = nm_mem_buf_alloc(mem);
		if (!ring->slot[s].buf_idx)
			return -ENOMEM;
	}
	/* TX: every slot but one is free; RX: nothing received (spec 4.3) */
	kring->hwcur = 0;
	kring->hwtail = d == NM_TX ? nr_slots - 1 : 0;
	kring->rhead = 0;
	kring->rcur = 0;
	kring->rtail = kring->hwtail;
	ring->head = 0;
	ring->cur = 0;
	ring->tail = kring->hwtail;
	return 0;
}

static int nm_krings_create(struct nm_port *port)
{
	u32 nr_slots[NM_DIRS] = { port->num_tx_desc, port->num_rx_desc };
	enum nm_txrx d;
	u32 i;
	int err;

	port->kring_count[NM_TX] = port->num_tx_rings;
	port->kring_count[NM_RX] = port->num_rx_rings;
	for (d = NM_TX; d < NM_DIRS; d++) {
		u32 n = port->kring_count[d] + NM_HOST_RINGS;
		struct nm_kring *krings = kvcalloc(n, sizeof(*krings),
						   GFP_KERNEL);

		if (!krings)
			goto nomem;
		if (d == NM_TX)
			port->tx_rings = krings;
		else
			port->rx_rings = krings;
		for (i = 0; i < n; i++) {
			err = nm_kring_init(port, &krings[i], d, i, nr_slots[d]);
			if (err)
				goto err;
		}
	}
	port->host_rx_limit = nr_slots[NM_RX];
	return 0;
nomem:
	err = -ENOMEM;
err:
	pr_err(NM_PFX "%s: no room in the region for its rings (%u+%u rings of %u/%u slots)\n",
	       port->netdev->name, port->kring_count[NM_TX],
	       port->kring_count[NM_RX], nr_slots[NM_TX], nr_slots[NM_RX]);
	nm_krings_free(port);
	return err;
}

/* the first bound file: rings into netmap mode; port->lock held */
static int nm_port_activate(struct nm_port *port)
{
	struct nm_mem *mem;
	int err;

	rtnl_lock();	/* ring counts do not change under us */
	if (!port->num_tx_rings || !port->num_rx_rings ||
	    port->num_tx_rings + port->num_rx_rings + 2 * NM_HOST_RINGS >
	    (1024 - sizeof(struct netmap_if)) / sizeof(s64)) {
		err = -EINVAL;
		goto out;
	}
	mem = nm_mem_get();
	if (IS_ERR(mem)) {
		err = PTR_ERR(mem);
		goto out;
	}
	port->mem = mem;
	err = nm_krings_create(port);
	if (err)
		goto err_mem;
	err = -ENOMEM;
	/* a stack port has no device: TCP maps what it sends */
	if (port->dma_dev) {
		port->page_dma = nm_mem_dma_map(mem, port->dma_dev);
		if (!port->page_dma)
			goto err_krings;
	}

	down_write(&port->sync_lock);
	WRITE_ONCE(port->active, true);
	err = port->ops->reg(port, true);
	if (err)
		WRITE_ONCE(port->active, false);
	up_write(&port->sync_lock);
	if (err)
		goto err_unmap;
	rtnl_unlock();
	return 0;

err_unmap:
	nm_port_unmap(port);
err_krings:
	nm_krings_free(port);
err_mem:
	nm_mem_put(mem);
	port->mem = NULL;
out:
	rtnl_unlock();
	pr_warn(NM_PFX "%s: cannot enter netmap mode (%d)\n",
		port->netdev->name, err);
	return err;
}

/* the last file is gone: rings back to the stack; port->lock held */
static void nm_port_deactivate(struct nm_port *port)
{
	if (!port->dead) {
		rtnl_lock();
		down_write(&port->sync_lock);
		WRITE_ONCE(port->active, false);
		port->ops->reg(port, false);
		up_write(&port->sync_lock);
		rtnl_unlock();
		nm_port_unmap(port);
	}
	skb_queue_purge(&port->host_rxq);
	nm_krings_free(port);
	nm_mem_put(port->mem);
	port->mem = NULL;
}

/* ------------------------------------------------------------------ */
/* Syncs: the prologue checks, the driver's work, the epilogue         */
/* ------------------------------------------------------------------ */

/* x in the circular interval [a, b] of a ring of n slots */
static bool nm_between(u32 x, u32 a, u32 b, u32 n)
{
	if (x >= n)
		return false;
	return a <= b ? a <= x && x <= b : x >= a || x <= b;
}

/*
 * Spec 6.4: TX head may move from the last head up to the last tail, RX
 * head from hwcur up to hwtail; cur lies between head and that limit.
 */
static bool nm_prologue(struct nm_kring *kring, u32 head, u32 cur)
{
	u32 from = kring->dir == NM_TX ? kring->rhead : kring->hwcur;
	u32 to = kring->dir == NM_TX ? kring->rtail : kring->hwtail;
	u32 n = kring->nr_slots;

	return nm_between(head, from, to, n) && nm_between(cur, head, to, n);
}

/*
 * A ring with bad indices goes back to what the kernel last gave out, and
 * slots with impossible buffers or lengths are neutralised (spec 6.5).
 */
static void nm_ring_reinit(struct nm_kring *kring, u32 head, u32 cur)
{
	struct netmap_ring *ring = kring->ring;
	u32 s;

	pr_warn_ratelimited(NM_PFX "%s %s%u%s: bad head %u / cur %u (allowed %u..%u of %u), ring reset\n",
			    kring->port->netdev->name,
			    kring->dir == NM_TX ? "tx" : "rx", kring->ring_id,
			    kring->host ? "^" : "", head, cur,
			    kring->dir == NM_TX ? kring->rhead : kring->hwcur,
			    kring->dir == NM_TX ? kring->rtail : kring->hwtail,
			    kring->nr_slots);
	for (s = 0; s < kring->nr_slots; s++) {
		struct netmap_slot *slot = &ring->slot[s];

		if (!nm_mem_buf_valid(kring->port->mem, slot->buf_idx)) {
			slot->buf_idx = 0;
			slot->len = 0;
		} else if (slot->len > NM_BUF_SIZE) {
			slot->len = 0;
		}
	}
	WRITE_ONCE(ring->head, kring->rhead);
	WRITE_ONCE(ring->cur, kring->rcur);
	WRITE_ONCE(ring->tail, kring->rtail);
	kring->bad_syncs++;
}

/* one ring: claimed by the caller, port sync lock held for reading */
static int nm_kring_sync(struct nm_kring *kring, unsigned int flags)
{
	struct netmap_ring *ring = kring->ring;
	struct nm_port *port = kring->port;
	u32 head = READ_ONCE(ring->head), cur = READ_ONCE(ring->cur);
	u32 before;
	int err;

	if (unlikely(!nm_prologue(kring, head, cur))) {
		nm_ring_reinit(kring, head, cur);
		return -EINVAL;
	}
	kring->rhead = head;
	kring->rcur = cur;

	if (kring->dir == NM_TX) {
		before = kring->hwcur;
		err = kring->host ? nm_host_txsync(kring) :
				    port->ops->txsync(kring, flags);
		kring->slots += nm_distance(kring, before, kring->hwcur);
	} else {
		before = kring->hwtail;
		err = kring->host ? nm_host_rxsync(kring) :
				    port->ops->rxsync(kring, flags);
		kring->slots += nm_distance(kring, before, kring->hwtail);
	}
	kring->syncs++;

	/* also puts back a tail the program overwrote (spec 6.4) */
	kring->rtail = kring->hwtail;
	WRITE_ONCE(ring->tail, kring->hwtail);
	if (READ_ONCE(ring->flags) & NR_TIMESTAMP) {
		struct timespec64 now;

		ktime_get_real_ts64(&now);
		ring->ts.tv_sec = now.tv_sec;
		ring->ts.tv_usec = now.tv_nsec / NSEC_PER_USEC;
	}
	return err;
}

/* one sync per ring at a time: another thread's sync skips it (spec 6.2) */
static bool nm_kring_claim(struct nm_kring *kring)
{
	return !atomic_cmpxchg(&kring->busy, 0, 1);
}

static void nm_kring_release(struct nm_kring *kring)
{
	atomic_set_release(&kring->busy, 0);
}

static bool nm_kring_ready(const struct nm_kring *kring)
{
	return kring->rcur != kring->hwtail;
}

/*
 * Sync the file's rings of direction @d; sync lock held for reading.
 * Return: 0, -EINVAL if some ring had bad indices, or a driver's error.
 * *@ready tells whether some ring has slots beyond cur afterwards.
 */
static int nm_sync_dir(struct nm_file *nf, enum nm_txrx d,
		       unsigned int flags, bool *ready)
{
	struct nm_kring *krings = nm_krings(nf->port, d);
	int err = 0, r;
	u32 i;

	for (i = nf->first[d]; i < nf->last[d]; i++) {
		struct nm_kring *kring = &krings[i];

		if (!nm_kring_claim(kring))
			continue;
		r = nm_kring_sync(kring, flags);
		if (ready && nm_kring_ready(kring))
			*ready = true;
		nm_kring_release(kring);
		if (r && (!err || r == -EINVAL))
			err = r;
	}
	return err;
}

static long nm_ioctl_sync(struct nm_file *nf, enum nm_txrx d)
{
	/* pairs with the store_release in nm_register: a bound port is complete */
	struct nm_port *port = smp_load_acquire(&nf->port);
	long err;

	if (!port)
		return -ENXIO;
	down_read(&port->sync_lock);
	if (port->dead || !port->active) {
		up_read(&port->sync_lock);
		return -ENXIO;
	}
	port->ioctls++;
	err = nm_sync_dir(nf, d, 0, NULL);
	up_read(&port->sync_lock);
	return err;
}

/*
 * poll() and select(), spec 6.6: TX rings are synced unless NR_NO_TX_POLL
 * says only on POLLOUT, RX rings on POLLIN (or always with NR_DO_RX_POLL);
 * a direction is ready when some ring has cur != tail.  The wait queues are
 * registered before the syncs, and a ring's interrupt is armed only when
 * nothing was ready, so a frame that arrives in between wakes us.
 */
static __poll_t nm_poll(struct file *file, poll_table *wait)
{
	struct nm_file *nf = file->private_data;
	/* pairs with the store_release in nm_register: a bound port is complete */
	struct nm_port *port = smp_load_acquire(&nf->port);
	__poll_t events = poll_requested_events(wait), mask = 0;
	bool want_tx = events & (EPOLLOUT | EPOLLWRNORM);
	bool want_rx = events & (EPOLLIN | EPOLLRDNORM);
	bool tx_ready = false, rx_ready = false;
	enum nm_txrx d;
	u32 i;

	if (!port)
		return EPOLLERR;
	if (want_tx)
		poll_wait(file, &port->wq[NM_TX], wait);
	if (want_rx)
		poll_wait(file, &port->wq[NM_RX], wait);

	down_read(&port->sync_lock);
	if (port->dead || !port->active) {
		up_read(&port->sync_lock);
		return EPOLLERR;
	}
	port->polls++;
	if ((want_tx || !(nf->flags & NR_NO_TX_POLL)) &&
	    nm_sync_dir(nf, NM_TX, NM_SYNC_POLL, &tx_ready))
		mask |= EPOLLERR;
	if ((want_rx || (nf->flags & NR_DO_RX_POLL)) &&
	    nm_sync_dir(nf, NM_RX, NM_SYNC_POLL, &rx_ready))
		mask |= EPOLLERR;
	if (want_tx && tx_ready)
		mask |= events & (EPOLLOUT | EPOLLWRNORM);
	if (want_rx && rx_ready)
		mask |= events & (EPOLLIN | EPOLLRDNORM);

	for (d = NM_TX; d < NM_DIRS && !mask; d++) {
		struct nm_kring *krings = nm_krings(port, d);

		if (d == NM_TX ? !want_tx : !want_rx)
			continue;
		for (i = nf->first[d]; i < nf->last[d]; i++)
			if (!krings[i].host)
				port->ops->arm_irq(&krings[i]);
	}
	up_read(&port->sync_lock);
	return mask;
}

/* ------------------------------------------------------------------ */
/* REGISTER                                                            */
/* ------------------------------------------------------------------ */

/* the port named @name, with a reference, or NULL */
static struct nm_port *nm_port_find(const char *name)
{
	struct nm_port *port, *found = NULL;

	mutex_lock(&nm_ports_lock);
	list_for_each_entry(port, &nm_ports, list) {
		if (!strcmp(port->netdev->name, name)) {
			kref_get(&port->ref);
			found = port;
			break;
		}
	}
	mutex_unlock(&nm_ports_lock);
	return found;
}

/* "stack:eth0": eth0's stack port, created with the first open */
static int nm_lookup_stack(const char *ifname, struct nm_port **portp)
{
	struct nm_port *nic = nm_port_find(ifname);
	struct nm_port *port;

	if (!nic)
		return -ENXIO;
	mutex_lock(&nic->lock);
	port = nic->dead ? ERR_PTR(-ENXIO) : nm_stack_port(nic);
	mutex_unlock(&nic->lock);
	nm_port_put(nic);
	if (IS_ERR(port))
		return PTR_ERR(port);
	*portp = port;
	return 0;
}

/*
 * The native port of @name, else (admode 0) or always (admode 2) its generic
 * port; ENXIO for no interface, EOPNOTSUPP for one without a native adapter
 * under admode 1.
 */
static int nm_lookup(const char *name, struct nm_port **portp)
{
	struct net_device *dev;

	if (!strncmp(name, NM_STACK_PREFIX, strlen(NM_STACK_PREFIX)))
		return nm_lookup_stack(name + strlen(NM_STACK_PREFIX), portp);

	if (!strncmp(name, "vale", 4) || strpbrk(name, "{}")) {
		pr_info_ratelimited(NM_PFX "%s: VALE ports and pipes are not part of ringlab's netmap\n",
				    name);
		return -EOPNOTSUPP;
	}
	if (!nm_generic_only()) {
		*portp = nm_port_find(name);
		if (*portp)
			return 0;
	}
	if (nm_generic_allowed())
		return nm_generic_lookup(name, portp);
	dev = dev_get_by_name(current->nsproxy->net_ns, name);
	if (!dev)
		return -ENXIO;
	dev_put(dev);
	pr_info_ratelimited(NM_PFX "%s has no native netmap adapter (admode=1)\n",
			    name);
	return -EOPNOTSUPP;
}

/* spec 3.4: the half-open kring range of each direction for @mode */
static int nm_ring_range(struct nm_port *port, u32 mode, u16 ringid,
			 u64 flags, u32 *first, u32 *last)
{
	u32 tx = port->kring_count[NM_TX], rx = port->kring_count[NM_RX];
	enum nm_txrx d;

	if ((mode == NR_REG_ONE_NIC && ringid >= tx && ringid >= rx) ||
	    (mode == NR_REG_ONE_SW && ringid >= NM_HOST_RINGS))
		return -EINVAL;
	/* a stack port's host rings lead nowhere: its data is TCP's */
	if (port->stack_port && mode != NR_REG_ALL_NIC &&
	    mode != NR_REG_ONE_NIC && mode != NR_REG_NULL)
		return -EINVAL;
	/* a generic port's would need the driver's help (nm_generic.c) */
	if (nm_port_is_generic(port) && mode != NR_REG_ALL_NIC &&
	    mode != NR_REG_ONE_NIC && mode != NR_REG_NULL)
		return -EOPNOTSUPP;
	for (d = NM_TX; d < NM_DIRS; d++) {
		u32 n = port->kring_count[d];

		switch (mode) {
		case NR_REG_ALL_NIC:
		case NR_REG_NULL:
			first[d] = 0;
			last[d] = n;
			break;
		case NR_REG_SW:
		case NR_REG_ONE_SW:
			first[d] = n;
			last[d] = n + NM_HOST_RINGS;
			break;
		case NR_REG_NIC_SW:
			first[d] = 0;
			last[d] = n + NM_HOST_RINGS;
			break;
		case NR_REG_ONE_NIC:
			first[d] = ringid < n ? ringid : 0;
			last[d] = first[d] + 1;
			break;
		default:	/* DEFAULT and the deprecated pipe modes */
			return -EINVAL;
		}
	}
	if (flags & NR_TX_RINGS_ONLY)
		first[NM_RX] = last[NM_RX] = 0;
	if (flags & NR_RX_RINGS_ONLY)
		first[NM_TX] = last[NM_TX] = 0;
	return 0;
}

/* NR_EXCLUSIVE: rings bound exclusively are nobody else's */
static int nm_rings_claimable(struct nm_port *port, const u32 *first,
			      const u32 *last, bool exclusive)
{
	enum nm_txrx d;
	u32 i;

	for (d = NM_TX; d < NM_DIRS; d++)
		for (i = first[d]; i < last[d]; i++) {
			struct nm_kring *kring = &nm_krings(port, d)[i];

			if (kring->exclusive || (exclusive && kring->users))
				return -EBUSY;
		}
	return 0;
}

static void nm_rings_bind(struct nm_port *port, const u32 *first,
			  const u32 *last, bool exclusive, bool bind)
{
	enum nm_txrx d;
	u32 i;

	for (d = NM_TX; d < NM_DIRS; d++)
		for (i = first[d]; i < last[d]; i++) {
			struct nm_kring *kring = &nm_krings(port, d)[i];

			kring->users += bind ? 1 : -1;
			kring->exclusive = bind && exclusive;
		}
}

/* the file's netmap_if: ring offsets of the bound rings, 0 for the rest */
static struct netmap_if *nm_if_create(struct nm_port *port, const u32 *first,
				      const u32 *last)
{
	u32 count[NM_DIRS] = { port->kring_count[NM_TX],
			       port->kring_count[NM_RX] };
	struct netmap_if *nifp;
	enum nm_txrx d;
	u32 i, base = 0;

	nifp = nm_mem_if_alloc(port->mem, sizeof(*nifp) + sizeof(s64) *
			       (count[NM_TX] + count[NM_RX] + 2 * NM_HOST_RINGS));
	if (!nifp)
		return NULL;
	nm_port_name(port, nifp->ni_name, sizeof(nifp->ni_name));
	nifp->ni_version = NETMAP_API;
	nifp->ni_tx_rings = count[NM_TX];
	nifp->ni_rx_rings = count[NM_RX];
	nifp->ni_host_tx_rings = NM_HOST_RINGS;
	nifp->ni_host_rx_rings = NM_HOST_RINGS;
	for (d = NM_TX; d < NM_DIRS; d++) {
		for (i = first[d]; i < last[d]; i++)
			nifp->ring_ofs[base + i] =
				(char *)nm_krings(port, d)[i].ring - (char *)nifp;
		base += count[d] + NM_HOST_RINGS;
	}
	return nifp;
}

/*
 * Extra buffers (nr_extra_bufs): a list through each buffer's first word,
 * headed by ni_bufs_head.  Return: how many were granted.
 */
static u32 nm_extra_bufs_alloc(struct nm_mem *mem, struct netmap_if *nifp,
			       u32 want)
{
	u32 granted, head = 0;

	for (granted = 0; granted < want; granted++) {
		u32 idx = nm_mem_buf_alloc(mem);

		if (!idx)
			break;
		*(u32 *)nm_mem_buf_addr(mem, idx) = head;
		head = idx;
	}
	nifp->ni_bufs_head = head;
	return granted;
}

/* free what the list holds now; the program may have rewritten it */
static void nm_extra_bufs_free(struct nm_mem *mem, struct netmap_if *nifp)
{
	u32 idx = READ_ONCE(nifp->ni_bufs_head), steps;

	for (steps = 0; steps < mem->buf_count && nm_mem_buf_valid(mem, idx);
	     steps++) {
		u32 next = READ_ONCE(*(u32 *)nm_mem_buf_addr(mem, idx));

		nm_mem_buf_free(mem, idx);
		idx = next;
	}
	nifp->ni_bufs_head = 0;
}

static void nm_fill_reply(struct nm_port *port, struct nmreq_register *req)
{
	req->nr_memsize = port->mem->size;
	req->nr_tx_slots = port->tx_rings[0].nr_slots;
	req->nr_rx_slots = port->rx_rings[0].nr_slots;
	req->nr_tx_rings = port->kring_count[NM_TX];
	req->nr_rx_rings = port->kring_count[NM_RX];
	req->nr_host_tx_rings = NM_HOST_RINGS;
	req->nr_host_rx_rings = NM_HOST_RINGS;
	req->nr_mem_id = 1;
}

static int nm_register(struct nm_file *nf, const char *name,
		       struct nmreq_register *req, u8 goff)
{
	bool exclusive = req->nr_flags & NR_EXCLUSIVE;
	u32 first[NM_DIRS], last[NM_DIRS];
	struct netmap_if *nifp;
	struct nm_port *port;
	int err;

	if (req->nr_mem_id > 1)
		return -EINVAL;
	if (req->nr_flags & (NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON))
		return -EOPNOTSUPP;
	mutex_lock(&nf->lock);
	if (nf->port) {
		err = -EBUSY;
		goto out;
	}
	err = nm_lookup(name, &port);
	if (err)
		goto out;
	mutex_lock(&port->lock);
	err = -ENXIO;
	if (port->dead || !try_module_get(port->owner))
		goto err_port;
	if (!port->users) {
		if (port->stack_port)	/* its program's NETMAP_REQ_OPT_OFFSETS */
			nm_stack_set_offset(port, goff);
		err = nm_port_activate(port);
		if (err)
			goto err_module;
	}
	err = nm_ring_range(port, req->nr_mode, req->nr_ringid,
			    req->nr_flags, first, last);
	/*
	 * A stack port's RX slots are the data of the sockets its program
	 * attached: a second program on the same rings would take them.
	 */
	exclusive |= port->stack_port;
	if (!err)
		err = nm_rings_claimable(port, first, last, exclusive);
	if (err)
		goto err_active;
	nifp = nm_if_create(port, first, last);
	if (!nifp) {
		err = -ENOMEM;
		goto err_active;
	}
	req->nr_extra_bufs = nm_extra_bufs_alloc(port->mem, nifp,
						 req->nr_extra_bufs);
	nm_rings_bind(port, first, last, exclusive, true);
	port->users++;
	nm_fill_reply(port, req);
	req->nr_offset = nm_mem_ofs(port->mem, nifp);
	nf->nifp = nifp;
	nf->flags = req->nr_flags;
	memcpy(nf->first, first, sizeof(first));
	memcpy(nf->last, last, sizeof(last));
	/* publish the binding: everything above is seen by whoever sees the port */
	smp_store_release(&nf->port, port);
	mutex_unlock(&port->lock);
	mutex_unlock(&nf->lock);
	return 0;

err_active:
	if (!port->users)
		nm_port_deactivate(port);
err_module:
	module_put(port->owner);
err_port:
	mutex_unlock(&port->lock);
	nm_port_put(port);
out:
	mutex_unlock(&nf->lock);
	return err;
}

/* close(): the port is released, the last file gives the NIC back */
static void nm_unregister(struct nm_file *nf)
{
	struct nm_port *port = nf->port;

	mutex_lock(&port->lock);
	nm_extra_bufs_free(port->mem, nf->nifp);
	nm_mem_if_free(port->mem, nf->nifp);
	nm_rings_bind(port, nf->first, nf->last, false, false);
	if (!--port->users)
		nm_port_deactivate(port);
	mutex_unlock(&port->lock);
	module_put(port->owner);
	nm_port_put(port);
	nf->port = NULL;
}

/* PORT_INFO_GET: the port's configuration without binding it */
static int nm_port_info(struct nm_file *nf, const char *name,
			struct nmreq_port_info_get *info)
{
	struct nmreq_pools_info pools;
	struct nm_port *port;
	bool active;
	int err;

	if (!name[0]) {
		/* pairs with the store_release in nm_register: a bound port is complete */
		port = smp_load_acquire(&nf->port);
		if (!port)
			return -EINVAL;
		kref_get(&port->ref);
	} else {
		err = nm_lookup(name, &port);
		if (err)
			return err;
	}
	nm_mem_layout(&pools);
	mutex_lock(&port->lock);
	active = port->users;
	info->nr_memsize = pools.nr_memsize;
	info->nr_tx_rings = active ? port->kring_count[NM_TX] : port->num_tx_rings;
	info->nr_rx_rings = active ? port->kring_count[NM_RX] : port->num_rx_rings;
	info->nr_tx_slots = active ? port->tx_rings[0].nr_slots : port->num_tx_desc;
	info->nr_rx_slots = active ? port->rx_rings[0].nr_slots : port->num_rx_desc;
	info->nr_host_tx_rings = NM_HOST_RINGS;
	info->nr_host_rx_rings = NM_HOST_RINGS;
	info->nr_mem_id = 1;
	mutex_unlock(&port->lock);
	nm_port_put(port);
	return 0;
}

/*
 * PST_FD_REG on a file bound to a stack port; @name, if given, must be
 * that port's.
 */
static int nm_fd_reg(struct nm_file *nf, const char *name, int fd)
{
	/* pairs with the store_release in nm_register: a bound port is complete */
	struct nm_port *port = smp_load_acquire(&nf->port);
	char bound[NETMAP_REQ_IFNAMSIZ];

	if (!port || !port->stack_port)
		return -EINVAL;
	nm_port_name(port, bound, sizeof(bound));
	if (name[0] && strcmp(name, bound))
		return -EINVAL;
	return nm_stack_attach(port, fd);
}

/* ------------------------------------------------------------------ */
/* NIOCCTRL: header, body and options (spec 3)                         */
/* ------------------------------------------------------------------ */

static const u16 nm_body_size[] = {
	[NETMAP_REQ_REGISTER] = sizeof(struct nmreq_register),
	[NETMAP_REQ_PORT_INFO_GET] = sizeof(struct nmreq_port_info_get),
	[NETMAP_REQ_VALE_ATTACH] = 64,
	[NETMAP_REQ_VALE_DETACH] = 8,
	[NETMAP_REQ_VALE_LIST] = 8,
	[NETMAP_REQ_PORT_HDR_SET] = sizeof(struct nmreq_port_hdr),
	[NETMAP_REQ_PORT_HDR_GET] = sizeof(struct nmreq_port_hdr),
	[NETMAP_REQ_VALE_NEWIF] = 16,
	[NETMAP_REQ_VALE_DELIF] = 0,
	[NETMAP_REQ_VALE_POLLING_ENABLE] = 16,
	[NETMAP_REQ_VALE_POLLING_DISABLE] = 16,
	[NETMAP_REQ_POOLS_INFO_GET] = sizeof(struct nmreq_pools_info),
	[NETMAP_REQ_SYNC_KLOOP_START] = 8,
	[NETMAP_REQ_SYNC_KLOOP_STOP] = 0,
	[NETMAP_REQ_CSB_ENABLE] = 0,
	[NETMAP_REQ_PST_ATTACH] = 0,
	[NETMAP_REQ_PST_DETACH] = 0,
	[NETMAP_REQ_PST_FD_REG] = sizeof(struct nmreq_pst_fd_reg),
};

/*
 * OFFSETS on a stack port (stackmap-api 5.2): the offset lives in the low
 * 8 bits of slot.ptr, so it is at most 255; its initial value is where the
 * kernel puts received data.  Return: 0 or a positive errno for nro_status.
 */
static u32 nm_opt_offsets(void __user *p, u8 *goff)
{
	struct nmreq_opt_offsets o;

	if (copy_from_user(&o, p, sizeof(o)))
		return EFAULT;
	if (o.nro_offset_bits > 8 || o.nro_max_offset > NM_PST_OFFSET_MASK ||
	    o.nro_initial_offset > o.nro_max_offset)
		return EINVAL;
	*goff = o.nro_initial_offset;
	return 0;
}

/*
 * Options: only OFFSETS, and only when registering a stack port; every
 * other is answered with EOPNOTSUPP in its nro_status and the request
 * fails (spec 3.7).  Walking the list still checks what the spec asks: no
 * type 0, no type twice, at most NETMAP_REQ_MAXSIZE bytes in all (which
 * also ends a list that loops).
 */
static int nm_options(u64 uptr, size_t body, bool stack, u8 *goff)
{
	u64 seen = 0, size = body;
	struct nmreq_option opt;
	int err = 0;

	while (uptr) {
		void __user *p = u64_to_user_ptr(uptr);

		size += sizeof(opt);
		if (size > NETMAP_REQ_MAXSIZE)
			return -EMSGSIZE;
		if (copy_from_user(&opt, p, sizeof(opt)))
			return -EFAULT;
		if (!opt.nro_reqtype) {
			opt.nro_status = EINVAL;
			err = -EINVAL;
		} else if (opt.nro_reqtype < 64 &&
			   (seen & BIT_ULL(opt.nro_reqtype))) {
			opt.nro_status = EINVAL;
			err = -EINVAL;
		} else if (opt.nro_reqtype == NETMAP_REQ_OPT_OFFSETS && stack) {
			seen |= BIT_ULL(opt.nro_reqtype);
			opt.nro_status = nm_opt_offsets(p, goff);
			if (opt.nro_status && !err)
				err = -opt.nro_status;
		} else {
			if (opt.nro_reqtype < 64)
				seen |= BIT_ULL(opt.nro_reqtype);
			opt.nro_status = EOPNOTSUPP;
			if (!err)
				err = -EOPNOTSUPP;
		}
		if (opt.nro_size > NETMAP_REQ_MAXSIZE)
			return -EMSGSIZE;
		size += opt.nro_size;
		if (copy_to_user(p, &opt, sizeof(opt)))
			return -EFAULT;
		uptr = opt.nro_next;
	}
	return err;
}

static long nm_ioctl_ctrl(struct nm_file *nf, void __user *uarg)
{
	union {
		struct nmreq_register reg;
		struct nmreq_port_info_get info;
		struct nmreq_port_hdr hdr;
		struct nmreq_pools_info pools;
		struct nmreq_pst_fd_reg fd_reg;
		u8 raw[64];
	} body;
	struct nmreq_header hdr;
	void __user *ubody;
	bool stack;
	size_t size;
	long err;
	u8 goff = 0;

	if (!uarg)
		return -EINVAL;
	if (copy_from_user(&hdr, uarg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nr_version < NETMAP_MIN_API || hdr.nr_version > NETMAP_MAX_API ||
	    hdr.nr_reserved || !hdr.nr_reqtype ||
	    hdr.nr_reqtype >= ARRAY_SIZE(nm_body_size))
		return -EINVAL;
	hdr.nr_name[NETMAP_REQ_IFNAMSIZ - 1] = '\0';
	size = nm_body_size[hdr.nr_reqtype];
	if (!size != !hdr.nr_body)
		return -EINVAL;
	ubody = u64_to_user_ptr(hdr.nr_body);
	memset(&body, 0, sizeof(body));
	if (size && copy_from_user(&body, ubody, size))
		return -EFAULT;
	stack = hdr.nr_reqtype == NETMAP_REQ_REGISTER &&
		!strncmp(hdr.nr_name, NM_STACK_PREFIX, strlen(NM_STACK_PREFIX));
	err = nm_options(hdr.nr_options, size, stack, &goff);
	if (err)
		return err;

	switch (hdr.nr_reqtype) {
	case NETMAP_REQ_REGISTER:
		err = nm_register(nf, hdr.nr_name, &body.reg, goff);
		break;
	case NETMAP_REQ_PST_FD_REG:
		err = nm_fd_reg(nf, hdr.nr_name, body.fd_reg.fd);
		break;
	case NETMAP_REQ_PORT_INFO_GET:
		err = nm_port_info(nf, hdr.nr_name, &body.info);
		break;
	case NETMAP_REQ_POOLS_INFO_GET:
		nm_mem_layout(&body.pools);
		err = 0;
		break;
	case NETMAP_REQ_PORT_HDR_GET:	/* pkt-gen asks on every open */
		body.hdr.nr_hdr_len = 0;
		err = 0;
		break;
	case NETMAP_REQ_PORT_HDR_SET:	/* no virtio-net headers here */
		err = body.hdr.nr_hdr_len ? -EINVAL : 0;
		break;
	default:
		err = -EOPNOTSUPP;
		break;
	}
	if (!err && size && copy_to_user(ubody, &body, size))
		err = -EFAULT;
	return err;
}

/* ------------------------------------------------------------------ */
/* Legacy NIOCGINFO / NIOCREGIF (spec 8.1)                             */
/* ------------------------------------------------------------------ */

static long nm_ioctl_legacy(struct nm_file *nf, unsigned int cmd,
			    void __user *uarg)
{
	struct nmreq req;
	long err;

	if (!uarg)
		return -EINVAL;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	req.nr_name[sizeof(req.nr_name) - 1] = '\0';
	if (req.nr_version < NETMAP_MIN_API || req.nr_cmd)
		return -EINVAL;

	if (cmd == NIOCGINFO) {
		struct nmreq_port_info_get info = {};

		err = nm_port_info(nf, req.nr_name, &info);
		if (err)
			return err;
		req.nr_memsize = info.nr_memsize;
		req.nr_tx_slots = info.nr_tx_slots;
		req.nr_rx_slots = info.nr_rx_slots;
		req.nr_tx_rings = info.nr_tx_rings;
		req.nr_rx_rings = info.nr_rx_rings;
		req.nr_arg2 = info.nr_mem_id;
	} else {
		struct nmreq_register reg = {
			.nr_mem_id = req.nr_arg2,
			.nr_ringid = req.nr_ringid & NETMAP_RING_MASK,
			.nr_mode = req.nr_flags & NR_REG_MASK,
			.nr_extra_bufs = req.nr_arg3,
			.nr_flags = req.nr_flags & ~NR_REG_MASK,
		};

		if (reg.nr_mode == NR_REG_DEFAULT)
			reg.nr_mode = req.nr_ringid & NETMAP_SW_RING ? NR_REG_SW :
				      req.nr_ringid & NETMAP_HW_RING ? NR_REG_ONE_NIC :
				      NR_REG_ALL_NIC;
		if (req.nr_ringid & NETMAP_NO_TX_POLL)
			reg.nr_flags |= NR_NO_TX_POLL;
		if (req.nr_ringid & NETMAP_DO_RX_POLL)
			reg.nr_flags |= NR_DO_RX_POLL;
		err = nm_register(nf, req.nr_name, &reg, 0);
		if (err)
			return err;
		req.nr_offset = reg.nr_offset;
		req.nr_memsize = reg.nr_memsize;
		req.nr_tx_slots = reg.nr_tx_slots;
		req.nr_rx_slots = reg.nr_rx_slots;
		req.nr_tx_rings = reg.nr_tx_rings;
		req.nr_rx_rings = reg.nr_rx_rings;
		req.nr_arg2 = reg.nr_mem_id;
		req.nr_arg3 = reg.nr_extra_bufs;
	}
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

/* ------------------------------------------------------------------ */
/* The device                                                          */
/* ------------------------------------------------------------------ */

static long nm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct nm_file *nf = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case NIOCTXSYNC:
		return nm_ioctl_sync(nf, NM_TX);
	case NIOCRXSYNC:
		return nm_ioctl_sync(nf, NM_RX);
	case NIOCCTRL:
		return nm_ioctl_ctrl(nf, uarg);
	case NIOCGINFO:
	case NIOCREGIF:
		return nm_ioctl_legacy(nf, cmd, uarg);
	default:
		return -ENOTTY;
	}
}

static int nm_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct nm_file *nf = file->private_data;
	/* pairs with the store_release in nm_register: a bound port is complete */
	struct nm_port *port = smp_load_acquire(&nf->port);

	if (!port)
		return -EINVAL;
	return nm_mem_mmap(port->mem, vma);
}

static int nm_open(struct inode *inode, struct file *file)
{
	struct nm_file *nf = kzalloc(sizeof(*nf), GFP_KERNEL);

	if (!nf)
		return -ENOMEM;
	mutex_init(&nf->lock);
	file->private_data = nf;
	return 0;
}

static int nm_release(struct inode *inode, struct file *file)
{
	struct nm_file *nf = file->private_data;

	if (nf->port)
		nm_unregister(nf);
	kfree(nf);
	return 0;
}

static const struct file_operations nm_fops = {
	.owner		= THIS_MODULE,
	.open		= nm_open,
	.release	= nm_release,
	.unlocked_ioctl	= nm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= nm_mmap,
	.poll		= nm_poll,
	.llseek		= noop_llseek,
};

static struct miscdevice nm_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "netmap",
	.fops	= &nm_fops,
	.mode	= 0666,
};

/* ------------------------------------------------------------------ */
/* /proc/net/netmap: the counters the course reads                     */
/* ------------------------------------------------------------------ */

static void nm_show_port(struct seq_file *m, struct nm_port *port)
{
	u64 syncs[NM_DIRS], slots[NM_DIRS];
	char name[NETMAP_REQ_IFNAMSIZ];
	enum nm_txrx d;
	u32 i;

	nm_port_name(port, name, sizeof(name));
	for (d = NM_TX; d < NM_DIRS; d++) {
		syncs[d] = port->total_syncs[d];
		slots[d] = port->total_slots[d];
		for (i = 0; port->users && i <= port->kring_count[d]; i++) {
			syncs[d] += nm_krings(port, d)[i].syncs;
			slots[d] += nm_krings(port, d)[i].slots;
		}
	}
	seq_printf(m, "port %s active=%d users=%u ioctls=%llu polls=%llu txsyncs=%llu txslots=%llu rxsyncs=%llu rxslots=%llu host_drops=%llu\n",
		   name, port->active, port->users, port->ioctls,
		   port->polls, syncs[NM_TX], slots[NM_TX], syncs[NM_RX],
		   slots[NM_RX], port->host_drops);
	for (d = NM_TX; d < NM_DIRS; d++)
		for (i = 0; port->users && i <= port->kring_count[d]; i++) {
			struct nm_kring *k = &nm_krings(port, d)[i];
			char id[8] = "^";

			if (!k->host)
				snprintf(id, sizeof(id), "%u", i);
			seq_printf(m, "ring %s %s%s users=%u syncs=%llu slots=%llu bad_syncs=%llu head=%u cur=%u tail=%u hwcur=%u hwtail=%u\n",
				   name, d == NM_TX ? "tx" : "rx",
				   id, k->users, k->syncs, k->slots, k->bad_syncs,
				   READ_ONCE(k->ring->head),
				   READ_ONCE(k->ring->cur),
				   READ_ONCE(k->ring->tail), k->hwcur,
				   k->hwtail);
		}
}

static int nm_proc_show(struct seq_file *m, void *v)
{
	struct nm_port *port;

	nm_mem_show(m);
	mutex_lock(&nm_ports_lock);
	list_for_each_entry(port, &nm_ports, list) {
		mutex_lock(&port->lock);
		nm_show_port(m, port);
		if (port->stack) {
			mutex_lock(&port->stack->lock);
			nm_show_port(m, port->stack);
			nm_stack_show(m, port->stack);
			mutex_unlock(&port->stack->lock);
		}
		mutex_unlock(&port->lock);
	}
	mutex_unlock(&nm_ports_lock);
	nm_generic_show_all(m, nm_show_port);
	return 0;
}

static int __init nm_init(void)
{
	struct nmreq_pools_info pools;
	int err;

	nm_mem_layout(&pools);
	if (!pools.nr_memsize)
		return -EINVAL;
	err = nm_stack_init();
	if (err)
		return err;
	err = nm_generic_init();
	if (err)
		goto err_stack;
	err = misc_register(&nm_miscdev);
	if (err)
		goto err_generic;
	if (!proc_create_single("netmap", 0444, init_net.proc_net,
				nm_proc_show)) {
		misc_deregister(&nm_miscdev);
		err = -ENOMEM;
		goto err_generic;
	}
	pr_info(NM_PFX "API %d, /dev/netmap, region of %llu KiB when in use\n",
		NETMAP_API, pools.nr_memsize >> 10);
	return 0;

err_generic:
	nm_generic_exit();
err_stack:
	nm_stack_exit();
	return err;
}

static void __exit nm_exit(void)
{
	remove_proc_entry("netmap", init_net.proc_net);
	misc_deregister(&nm_miscdev);
	nm_generic_exit();
	nm_stack_exit();
}

module_init(nm_init);
module_exit(nm_exit);

MODULE_AUTHOR("ringlab");
MODULE_DESCRIPTION("ringlab's netmap: the netmap API, native and generic adapters");
MODULE_LICENSE("GPL");
