// SPDX-License-Identifier: GPL-2.0
/*
 * nm_host.c - the host-stack rings ("^" ports, NR_REG_SW and NR_REG_NIC_SW)
 *
 * While a port is in netmap mode the kernel stack no longer reaches the
 * NIC.  What the stack sends out of the interface is queued here and
 * appears on the host RX ring; what a program puts on the host TX ring
 * enters the stack as if the NIC had received it.  A program that forwards
 * between the NIC rings and the host rings (netmap's bridge) thus puts
 * itself between the wire and the stack.  Both directions copy: the stack's
 * skbs are not netmap buffers.
 */

#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "nm_core.h"

/**
 * nm_host_xmit - the stack sends a frame while the port is in netmap mode
 * @port: the port
 * @skb: the frame; consumed
 *
 * Called from the driver's ndo_start_xmit.  Frames beyond what one host RX
 * ring holds are dropped and counted (the program is not reading them).
 *
 * Return: NETDEV_TX_OK.
 */
netdev_tx_t nm_host_xmit(struct nm_port *port, struct sk_buff *skb)
{
	if (skb_queue_len(&port->host_rxq) >= READ_ONCE(port->host_rx_limit) ||
	    skb->len > NM_BUF_SIZE) {
		port->host_drops++;
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;
	}
	skb_queue_tail(&port->host_rxq, skb);
	wake_up(&port->wq[NM_RX]);
	return NETDEV_TX_OK;
}
EXPORT_SYMBOL_GPL(nm_host_xmit);

/**
 * nm_rxq_fill - copy queued frames into an RX kring's free slots
 * @kring: the ring; its slots from hwtail up to the one before hwcur are free
 * @q: the frames, consumed as they are copied
 * @drops: counts a frame that cannot be copied
 *
 * Slots given back need nothing (the frames were copied).  Shared by the
 * host RX ring and the generic adapter's RX ring.
 */
void nm_rxq_fill(struct nm_kring *kring, struct sk_buff_head *q, u64 *drops)
{
	struct netmap_ring *ring = kring->ring;
	u32 i = kring->hwtail;

	kring->hwcur = kring->rhead;
	while (nm_next(kring, i) != kring->hwcur) {
		struct netmap_slot *slot = &ring->slot[i];
		struct sk_buff *skb = skb_dequeue(q);

		if (!skb)
			break;
		if (skb_copy_bits(skb, 0, nm_slot_addr(kring, slot), skb->len)) {
			(*drops)++;
			dev_kfree_skb_any(skb);
			continue;
		}
		slot->len = skb->len;
		slot->flags = 0;
		consume_skb(skb);
		i = nm_next(kring, i);
	}
	kring->hwtail = i;
}

/* host RX: the frames the stack sent while the port is in netmap mode */
int nm_host_rxsync(struct nm_kring *kring)
{
	struct nm_port *port = kring->port;

	nm_rxq_fill(kring, &port->host_rxq, &port->host_drops);
	return 0;
}

/* host TX: every slot handed over becomes an skb the stack receives */
int nm_host_txsync(struct nm_kring *kring)
{
	struct net_device *netdev = kring->port->netdev;
	struct netmap_ring *ring = kring->ring;
	u32 i;

	for (i = kring->hwcur; i != kring->rhead; i = nm_next(kring, i)) {
		struct netmap_slot *slot = &ring->slot[i];
		unsigned int len = min_t(unsigned int, slot->len, NM_BUF_SIZE);
		struct sk_buff *skb;

		slot->flags &= ~NS_BUF_CHANGED;
		if (len < ETH_HLEN) {
			netdev->stats.rx_length_errors++;
			continue;
		}
		skb = netdev_alloc_skb_ip_align(netdev, len);
		if (!skb) {
			netdev->stats.rx_dropped++;
			continue;
		}
		skb_put_data(skb, nm_slot_addr(kring, slot), len);
		skb->protocol = eth_type_trans(skb, netdev);
		netif_rx(skb);
	}
	kring->hwcur = kring->rhead;
	/* copied at once: every slot is free again, but the one-slot gap */
	kring->hwtail = nm_prev(kring, kring->rhead);
	return 0;
}
