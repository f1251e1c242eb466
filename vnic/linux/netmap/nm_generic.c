// SPDX-License-Identifier: GPL-2.0
/*
 * nm_generic.c - netmap on any interface: the generic (emulated) adapter
 *
 * An interface whose driver has no native adapter (igb, e1000e, virtio_net
 * in the lab; vnic too with admode=2) still opens as a netmap port, with the
 * same API: netmap.ko plays the driver.  The port has one TX and one RX ring.
 * RX takes the frames the stack would have received, with an rx_handler, and
 * copies them into the slots at rxsync; TX copies each slot into a new skb
 * and hands it to the driver with __dev_direct_xmit (no qdisc).  So every
 * packet still costs an skb and a copy -- exactly what a native adapter
 * saves; the system calls are batched all the same.  This is netmap's
 * "native against emulated" comparison, measured in bench/anchors.py.
 *
 * Host rings need a driver that hands netmap.ko what the stack sends
 * (nm_host_xmit): a generic port has none, so it binds NIC rings only.
 *
 * Lifetime: a generic port is made by the first open of its interface and
 * lives until the interface goes away (a notifier) or netmap.ko is unloaded.
 * Each skb in the driver's hands counts in tx_inflight and holds the module
 * (its destructor is our code; a driver may keep sent skbs until it sends
 * again); the port's memory is freed only once the driver gave every one back.
 */

#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "nm_core.h"

/* slots per ring of a generic port, and frames the RX queue holds at most */
#define NM_GENERIC_SLOTS	1024

/**
 * struct nm_generic - a generic port's adapter (port->driver)
 * @port: the port
 * @netdev: its interface, held (netdev_hold) until the port is gone
 * @tracker: the hold's tracker
 * @list: in nm_generic_ports
 * @rxq: frames the rx_handler caught, for rxsync
 * @tx_inflight: skbs the driver still holds
 * @features: the interface's wanted features before netmap mode (GRO off)
 * @detach: the work that detaches the port when its interface goes away
 * @rx_drops: frames dropped because @rxq was full (the program is slow)
 * @rx_too_long: frames longer than a buffer (a GRO/LRO super-frame)
 * @tx_busy: transmissions the driver refused (its queue was full)
 * @tx_drops: slots not sent: too short, no memory, or the device down
 */
struct nm_generic {
	struct nm_port *port;
	struct net_device *netdev;
	netdevice_tracker tracker;
	struct list_head list;
	struct sk_buff_head rxq;
	atomic_t tx_inflight;
	netdev_features_t features;
	struct work_struct detach;
	u64 rx_drops, rx_too_long, tx_busy, tx_drops;
};

static DEFINE_MUTEX(nm_generic_lock);	/* nm_generic_ports */
static LIST_HEAD(nm_generic_ports);
static struct workqueue_struct *nm_generic_wq;	/* detaches */
/* woken whenever a generic port's skb comes back from a driver */
static DECLARE_WAIT_QUEUE_HEAD(nm_generic_drained);

static int nm_generic_admode;
module_param_named(admode, nm_generic_admode, int, 0644);
MODULE_PARM_DESC(admode,
		 "0: the native adapter where the driver has one, else generic; 1: native only; 2: generic always");

bool nm_generic_only(void)
{
	return READ_ONCE(nm_generic_admode) == 2;
}

bool nm_generic_allowed(void)
{
	return READ_ONCE(nm_generic_admode) != 1;
}

static struct nm_generic *nm_gen(struct nm_kring *kring)
{
	return kring->port->driver;
}

/* ------------------------------------------------------------------ */
/* RX: the rx_handler catches, rxsync copies                          */
/* ------------------------------------------------------------------ */

/* softirq, under RCU: every frame of the interface while in netmap mode */
static rx_handler_result_t nm_generic_rx(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct nm_generic *gen = rcu_dereference(skb->dev->rx_handler_data);

	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return RX_HANDLER_CONSUMED;
	/* the stack already pulled the Ethernet header (eth_type_trans) */
	skb_push(skb, skb->data - skb_mac_header(skb));
	if (skb_vlan_tag_present(skb)) {	/* the NIC took the tag out */
		skb = __vlan_hwaccel_push_inside(skb);
		if (!skb)
			return RX_HANDLER_CONSUMED;
	}
	if (skb->len > NM_BUF_SIZE) {
		gen->rx_too_long++;
		kfree_skb(skb);
	} else if (skb_queue_len(&gen->rxq) >= NM_GENERIC_SLOTS) {
		gen->rx_drops++;
		kfree_skb(skb);
	} else {
		skb_queue_tail(&gen->rxq, skb);
		nm_port_irq(gen->port, 0);
	}
	return RX_HANDLER_CONSUMED;
}

static int nm_generic_rxsync(struct nm_kring *kring, unsigned int flags)
{
	struct nm_generic *gen = nm_gen(kring);

	nm_rxq_fill(kring, &gen->rxq, &gen->rx_drops);
	return 0;
}

/* ------------------------------------------------------------------ */
/* TX: one skb per slot, straight to the driver                        */
/* ------------------------------------------------------------------ */

/* any context: the driver is done with a frame we gave it */
static void nm_generic_tx_done(struct sk_buff *skb)
{
	struct nm_generic *gen = skb_shinfo(skb)->destructor_arg;

	nm_port_irq(gen->port, 0);	/* a poll(POLLOUT) may wait for room */
	smp_mb__before_atomic();
	atomic_dec(&gen->tx_inflight);	/* the last use of gen */
	wake_up(&nm_generic_drained);
	module_put(THIS_MODULE);	/* this code may go now */
}

static int nm_generic_txsync(struct nm_kring *kring, unsigned int flags)
{
	struct nm_generic *gen = nm_gen(kring);
	struct net_device *netdev = gen->netdev;
	struct netmap_ring *ring = kring->ring;
	u32 i;

	for (i = kring->hwcur; i != kring->rhead; i = nm_next(kring, i)) {
		struct netmap_slot *slot = &ring->slot[i];
		unsigned int len = min_t(unsigned int, slot->len, NM_BUF_SIZE);
		struct sk_buff *skb;
		int ret;

		slot->flags &= ~NS_BUF_CHANGED;
		if (len < ETH_HLEN) {
			gen->tx_drops++;
			continue;
		}
		skb = alloc_skb(LL_RESERVED_SPACE(netdev) + len, GFP_KERNEL);
		if (!skb) {
			gen->tx_drops++;
			continue;
		}
		skb_reserve(skb, LL_RESERVED_SPACE(netdev));
		skb_put_data(skb, nm_slot_addr(kring, slot), len);
		skb_reset_mac_header(skb);
		skb->protocol = eth_hdr(skb)->h_proto;
		skb->dev = netdev;
		skb_shinfo(skb)->destructor_arg = gen;
		skb->destructor = nm_generic_tx_done;
		atomic_inc(&gen->tx_inflight);
		__module_get(THIS_MODULE);	/* the destructor is our code */
		ret = __dev_direct_xmit(skb, 0);
		if (ret == NETDEV_TX_BUSY) {
			/* the driver's queue is full: this slot goes at the next sync */
			gen->tx_busy++;
			kfree_skb(skb);
			break;
		}
		if (ret != NETDEV_TX_OK && ret != NET_XMIT_CN)
			gen->tx_drops++;	/* freed by the stack */
	}
	kring->hwcur = i;
	/* copied: every slot handed over is free again, but the one-slot gap */
	kring->hwtail = nm_prev(kring, i);
	return 0;
}

/* interrupts are the rx_handler's and the destructor's: nothing to arm */
static void nm_generic_arm_irq(struct nm_kring *kring)
{
}

/* ------------------------------------------------------------------ */
/* Into and out of netmap mode                                         */
/* ------------------------------------------------------------------ */

/* RTNL held, no sync running */
static int nm_generic_reg(struct nm_port *port, bool on)
{
	struct nm_generic *gen = port->driver;
	struct net_device *netdev = gen->netdev;
	int err;

	if (!on) {
		if (rtnl_dereference(netdev->rx_handler) == nm_generic_rx)
			netdev_rx_handler_unregister(netdev);
		/* an interface on its way out takes no more configuration */
		if (netdev->reg_state == NETREG_REGISTERED) {
			netdev->wanted_features = gen->features;
			netdev_update_features(netdev);
		}
		skb_queue_purge(&gen->rxq);
		return 0;
	}
	err = netdev_rx_handler_register(netdev, nm_generic_rx, gen);
	if (err) {
		pr_warn(NM_PFX "%s: cannot catch its frames, it has an rx handler already (a bridge port?)\n",
			netdev->name);
		return err;
	}
	/* one frame per slot: no super-frames while in netmap mode */
	gen->features = netdev->wanted_features;
	netdev->wanted_features &= ~(NETIF_F_GRO | NETIF_F_LRO | NETIF_F_GRO_HW);
	netdev_update_features(netdev);
	return 0;
}

static const struct nm_port_ops nm_generic_ops = {
	.reg = nm_generic_reg,
	.txsync = nm_generic_txsync,
	.rxsync = nm_generic_rxsync,
	.arm_irq = nm_generic_arm_irq,
};

bool nm_port_is_generic(const struct nm_port *port)
{
	return port->ops == &nm_generic_ops;
}

/* ------------------------------------------------------------------ */
/* Lookup, and the end of a generic port                               */
/* ------------------------------------------------------------------ */

/* the generic port of @netdev, or NULL; nm_generic_lock held */
static struct nm_generic *nm_generic_find(const struct net_device *netdev)
{
	struct nm_generic *gen;

	list_for_each_entry(gen, &nm_generic_ports, list)
		if (gen->netdev == netdev)
			return gen;
	return NULL;
}

/**
 * nm_generic_lookup - the generic port of interface @name, made on first use
 * @name: the interface
 * @portp: the port, with a reference, on success
 *
 * Return: 0, -ENXIO for no such interface, -ENOMEM.
 */
int nm_generic_lookup(const char *name, struct nm_port **portp)
{
	struct net_device *netdev;
	struct nm_generic *gen;
	netdevice_tracker tracker;
	int err = 0;

	netdev = netdev_get_by_name(current->nsproxy->net_ns, name, &tracker,
				    GFP_KERNEL);
	if (!netdev)
		return -ENXIO;
	mutex_lock(&nm_generic_lock);
	gen = nm_generic_find(netdev);
	if (!gen) {
		gen = kzalloc(sizeof(*gen), GFP_KERNEL);
		if (!gen) {
			err = -ENOMEM;
			goto out;
		}
		gen->port = nm_port_alloc(netdev, NULL, THIS_MODULE,
					  &nm_generic_ops, gen);
		if (!gen->port) {
			kfree(gen);
			err = -ENOMEM;
			goto out;
		}
		gen->port->num_tx_rings = 1;
		gen->port->num_rx_rings = 1;
		gen->port->num_tx_desc = NM_GENERIC_SLOTS;
		gen->port->num_rx_desc = NM_GENERIC_SLOTS;
		gen->netdev = netdev;
		gen->tracker = tracker;	/* the port keeps the hold */
		netdev = NULL;
		skb_queue_head_init(&gen->rxq);
		list_add_tail(&gen->list, &nm_generic_ports);
		pr_info(NM_PFX "%s: generic adapter (an skb and a copy per packet)\n",
			name);
	}
	kref_get(&gen->port->ref);
	*portp = gen->port;
out:
	mutex_unlock(&nm_generic_lock);
	if (netdev)
		netdev_put(netdev, &tracker);
	return err;
}

/* off the list already: give the interface back, then free what is ours */
static void nm_generic_free(struct nm_generic *gen)
{
	struct nm_port *port = gen->port;

	kref_get(&port->ref);	/* nm_port_kill drops the list's reference */
	nm_port_kill(port);
	/* the driver may still hold frames we sent; their destructor uses gen */
	if (!wait_event_timeout(nm_generic_drained,
				!atomic_read(&gen->tx_inflight), 10 * HZ)) {
		pr_err(NM_PFX "%s: %d frames never came back from the driver; keeping their adapter\n",
		       gen->netdev->name, atomic_read(&gen->tx_inflight));
		nm_port_put(port);
		return;
	}
	skb_queue_purge(&gen->rxq);
	netdev_put(gen->netdev, &gen->tracker);
	nm_port_put(port);
	kfree(gen);
}

static void nm_generic_detach_work(struct work_struct *work)
{
	nm_generic_free(container_of(work, struct nm_generic, detach));
}

/* the interface is going away: RTNL held, so the detach runs after */
static int nm_generic_event(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	struct net_device *netdev = netdev_notifier_info_to_dev(ptr);
	struct nm_generic *gen;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	mutex_lock(&nm_generic_lock);
	gen = nm_generic_find(netdev);
	if (gen) {
		list_del(&gen->list);
		/* stop catching frames now: rx_handler_data is about to go */
		if (rtnl_dereference(netdev->rx_handler) == nm_generic_rx)
			netdev_rx_handler_unregister(netdev);
		INIT_WORK(&gen->detach, nm_generic_detach_work);
		queue_work(nm_generic_wq, &gen->detach);
	}
	mutex_unlock(&nm_generic_lock);
	return NOTIFY_DONE;
}

static struct notifier_block nm_generic_notifier = {
	.notifier_call = nm_generic_event,
};

static void nm_generic_show(struct seq_file *m, struct nm_port *port)
{
	struct nm_generic *gen = port->driver;

	seq_printf(m, "generic %s rx_queued=%u rx_drops=%llu rx_too_long=%llu tx_inflight=%d tx_busy=%llu tx_drops=%llu\n",
		   gen->netdev->name, skb_queue_len(&gen->rxq), gen->rx_drops,
		   gen->rx_too_long, atomic_read(&gen->tx_inflight),
		   gen->tx_busy, gen->tx_drops);
}

/* /proc/net/netmap: every generic port, as the native ones */
void nm_generic_show_all(struct seq_file *m,
			 void (*show)(struct seq_file *m, struct nm_port *port))
{
	struct nm_generic *gen;

	mutex_lock(&nm_generic_lock);
	list_for_each_entry(gen, &nm_generic_ports, list) {
		mutex_lock(&gen->port->lock);
		show(m, gen->port);
		nm_generic_show(m, gen->port);
		mutex_unlock(&gen->port->lock);
	}
	mutex_unlock(&nm_generic_lock);
}

int nm_generic_init(void)
{
	int err;

	nm_generic_wq = alloc_workqueue("netmap_generic", 0, 0);
	if (!nm_generic_wq)
		return -ENOMEM;
	err = register_netdevice_notifier(&nm_generic_notifier);
	if (err)
		destroy_workqueue(nm_generic_wq);
	return err;
}

void nm_generic_exit(void)
{
	struct nm_generic *gen, *next;
	LIST_HEAD(ports);

	unregister_netdevice_notifier(&nm_generic_notifier);
	destroy_workqueue(nm_generic_wq);	/* after the detaches it was given */
	mutex_lock(&nm_generic_lock);
	list_splice_init(&nm_generic_ports, &ports);
	mutex_unlock(&nm_generic_lock);
	list_for_each_entry_safe(gen, next, &ports, list) {
		list_del(&gen->list);
		nm_generic_free(gen);
	}
}
