// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_netmap.c - ringlab vNIC driver: native netmap adapter
 *
 * While a netmap program has the port, the NIC's descriptor rings carry
 * the program's buffers: slot i of a kring is descriptor i of the NIC ring
 * with the same number, for as long as the port is in netmap mode (a ring
 * restarted by a reset starts where the kring stands).  The stack's skbs
 * and NAPI are out of the way: what the stack sends goes to netmap's host
 * RX ring, queue interrupts wake the program's poll().
 *
 * A sync moves a whole batch with one doorbell.  TX reclaim reads the head
 * the device writes back to memory (TDWBAL, spec 4.3), so neither a
 * register read nor a walk over DD bits is needed.
 *
 * Ring words: netmap_kern.h; "spec" is specs/ixgbe-subset.md.
 */

#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>

#include "netmap_kern.h"
#include "vnic.h"

#define VNIC_NM_TXD_CMD	(VNIC_TXD_DTYP_DATA | VNIC_TXD_DEXT | \
			 VNIC_TXD_IFCS | VNIC_TXD_EOP)

/*
 * The NIC ring of @kring, or NULL while the interface is down (or, never
 * expected, not in netmap mode).  Runs under the port's sync lock, which
 * every change of the rings holds off.
 */
static struct vnic_ring *vnic_netmap_ring(struct nm_kring *kring)
{
	struct vnic_adapter *adapter = kring->port->driver;
	struct vnic_q_vector *qv;

	if (!adapter->netmap || test_bit(__VNIC_DOWN, &adapter->state))
		return NULL;
	qv = &adapter->q_vectors[kring->ring_id];
	return kring->dir == NM_TX ? &qv->tx : &qv->rx;
}

/* hand slot @i's buffer to RX descriptor @i; hdr_addr = 0 clears DD (3.1) */
static void vnic_netmap_arm_rx(struct nm_kring *kring, struct vnic_ring *ring,
			       u32 i)
{
	struct netmap_slot *slot = &kring->ring->slot[i];
	union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);

	desc->read.pkt_addr = cpu_to_le64(nm_slot_dma(kring, slot, NULL));
	desc->read.hdr_addr = 0;
	slot->flags &= ~NS_BUF_CHANGED;
}

/**
 * vnic_netmap_txsync - send slots [hwcur, rhead), reclaim completed ones
 * @kring: a NIC TX kring
 * @flags: NM_SYNC_*
 *
 * One advanced data descriptor per slot (a slot is a whole frame).  RS
 * goes on the batch's last descriptor, so that the device reports the
 * batch, and on slots the program marked NS_REPORT.  The device writes
 * its head (the first descriptor it has not processed) to ring->head_wb
 * after every batch; everything before it is done.
 *
 * Return: 0, -ENXIO if the NIC ring is gone, -EINVAL for a head past
 * the ring (the core's checks make that impossible).
 */
static int vnic_netmap_txsync(struct nm_kring *kring, unsigned int flags)
{
	struct vnic_ring *ring = vnic_netmap_ring(kring);
	struct netmap_ring *nmr = kring->ring;
	union vnic_adv_tx_desc *desc = NULL;
	u32 head = kring->rhead, done, i;

	if (!ring)
		return -ENXIO;
	if (WARN_ON_ONCE(head >= kring->nr_slots))
		return -EINVAL;

	for (i = kring->hwcur; i != head; i = nm_next(kring, i)) {
		struct netmap_slot *slot = &nmr->slot[i];
		u16 slot_flags = READ_ONCE(slot->flags);
		u32 cmd = VNIC_NM_TXD_CMD;
		unsigned int len;
		dma_addr_t dma;

		/* the buffer's address is read for every slot anyway */
		dma = nm_slot_dma(kring, slot, &len);
		slot->flags = slot_flags & ~NS_BUF_CHANGED;
		if (slot_flags & NS_REPORT)
			cmd |= VNIC_TXD_RS;

		desc = VNIC_TX_DESC(ring, i);
		desc->read.buffer_addr = cpu_to_le64(dma);
		desc->read.cmd_type_len = cpu_to_le32(cmd | len);
		desc->read.olinfo_status =
			cpu_to_le32(len << VNIC_TXD_PAYLEN_SHIFT);
	}
	if (desc) {
		desc->read.cmd_type_len |= cpu_to_le32(VNIC_TXD_RS);
		kring->hwcur = head;
		/* writel orders the descriptor writes before the doorbell */
		writel(head, ring->tail);
	}

	/*
	 * The device's head lies in [hwtail + 1, hwcur]; anything else is
	 * not believed (never trust the other side) and reclaims nothing.
	 */
	done = le32_to_cpu(READ_ONCE(*ring->head_wb));
	i = nm_next(kring, kring->hwtail);
	if (done < kring->nr_slots && nm_distance(kring, i, done) <=
				      nm_distance(kring, i, kring->hwcur))
		kring->hwtail = nm_prev(kring, done);
	return 0;
}

/**
 * vnic_netmap_rxsync - expose received frames, give released slots back
 * @kring: a NIC RX kring
 * @flags: NM_SYNC_*
 *
 * The device owns [hwtail, hwcur - 1): the frames it wrote back there (DD)
 * become the program's.  A frame that does not fit one buffer (no EOP),
 * has an error bit or an impossible length still takes its slot, with
 * len 0, and is counted: slot i is descriptor i, so the ring cannot skip
 * it.  Slots the program released, [hwcur, rhead), are re-armed with their
 * (possibly new) buffers and handed back with one RDT write; RDT stays one
 * behind hwcur, the gap of spec 4.1.
 *
 * Return: 0, -ENXIO if the NIC ring is gone, -EINVAL for a head past
 * the ring (the core's checks make that impossible).
 */
static int vnic_netmap_rxsync(struct nm_kring *kring, unsigned int flags)
{
	struct vnic_ring *ring = vnic_netmap_ring(kring);
	struct netmap_ring *nmr = kring->ring;
	unsigned int len_err = 0, hw_err = 0;
	u32 head = kring->rhead, stop, i;
	bool refill = head != kring->hwcur;

	if (!ring)
		return -ENXIO;
	if (WARN_ON_ONCE(head >= kring->nr_slots))
		return -EINVAL;

	stop = nm_prev(kring, kring->hwcur);
	for (i = kring->hwtail; i != stop; i = nm_next(kring, i)) {
		union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);
		u32 status = le32_to_cpu(desc->wb.status_error);
		u16 len;

		if (!(status & VNIC_RXD_DD))
			break;
		/* the length is valid only once DD is seen */
		dma_rmb();
		len = le16_to_cpu(desc->wb.length);
		if (unlikely(!(status & VNIC_RXD_EOP) || !len ||
			     len > NM_BUF_SIZE)) {
			len_err++;
			len = 0;
		} else if (unlikely(status &
				    (VNIC_RXD_ERR_RXE | VNIC_RXD_ERR_LE))) {
			hw_err++;
			len = 0;
		}
		nmr->slot[i].len = len;
		nmr->slot[i].flags = 0;
	}
	kring->hwtail = i;

	if (refill) {
		for (i = kring->hwcur; i != head; i = nm_next(kring, i))
			vnic_netmap_arm_rx(kring, ring, i);
		kring->hwcur = head;
		/* writel orders the descriptor writes before the doorbell */
		writel(nm_prev(kring, head), ring->tail);
	}

	if (refill || len_err || hw_err) {
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.refills += refill;
		ring->stats.length_errors += len_err;
		ring->stats.hw_errors += hw_err;
		u64_stats_update_end(&ring->stats.syncp);
	}
	return 0;
}

/* poll() is about to sleep on @kring: unmask its queue pair's vector */
static void vnic_netmap_arm_irq(struct nm_kring *kring)
{
	struct vnic_adapter *adapter = kring->port->driver;

	/* under the sync lock, like the syncs: q_vectors stays */
	if (adapter->netmap && !test_bit(__VNIC_DOWN, &adapter->state))
		vnic_wr32(adapter, VNIC_EIMS,
			  adapter->q_vectors[kring->ring_id].eims);
}

/* netmap.ko sized its krings from the port; they must be the NIC's rings */
static bool vnic_netmap_rings_fit(struct vnic_adapter *adapter,
				  struct nm_port *port)
{
	unsigned int q;

	if (port->num_tx_rings != adapter->num_qp ||
	    port->num_rx_rings != adapter->num_qp)
		goto mismatch;
	for (q = 0; q < adapter->num_qp; q++)
		if (port->tx_rings[q].nr_slots != adapter->tx_ring_count ||
		    port->rx_rings[q].nr_slots != adapter->rx_ring_count)
			goto mismatch;
	return true;

mismatch:
	netdev_err(adapter->netdev,
		   "netmap rings do not match the NIC's %u x %u/%u descriptors\n",
		   adapter->num_qp, adapter->tx_ring_count,
		   adapter->rx_ring_count);
	return false;
}

/**
 * vnic_netmap_reg - give the rings to netmap (@on) or back to the stack
 * @port: the vNIC's port
 * @on: netmap mode on or off
 *
 * Called by netmap.ko with RTNL held and no sync running.  A running
 * interface restarts, vnic_up setting the rings up for the new mode; a
 * down one just records the mode for ndo_open.
 *
 * Return: 0 or a negative errno (the stack has the rings then).
 */
static int vnic_netmap_reg(struct nm_port *port, bool on)
{
	struct vnic_adapter *adapter = port->driver;

	if (on && !vnic_netmap_rings_fit(adapter, port))
		return -EINVAL;
	return vnic_reinit(adapter, adapter->num_qp, adapter->tx_ring_count,
			   adapter->rx_ring_count, on);
}

/*
 * Receive into StackMap's pages (@pool), or stop taking them (NULL).  The
 * refills read the pointer (vnic_rx_get_page); starting, the RX rings
 * trade the pages they hold for the pool's at once.  Pages of the pool
 * still in descriptors after a stop are received into as before.  In
 * netmap mode the rings are netmap's: the pool waits for vnic_up.  RTNL
 * held.
 */
static void vnic_netmap_stack_rx(struct nm_port *port, struct nm_rx_pool *pool)
{
	struct vnic_adapter *adapter = port->driver;

	WRITE_ONCE(adapter->rx_pool, pool);
	if (pool && netif_running(adapter->netdev) && !adapter->netmap &&
	    !test_bit(__VNIC_DOWN, &adapter->state) &&
	    vnic_restart_rx_rings(adapter))
		schedule_work(&adapter->reset_task);
}

static const struct nm_port_ops vnic_netmap_ops = {
	.reg		= vnic_netmap_reg,
	.txsync		= vnic_netmap_txsync,
	.rxsync		= vnic_netmap_rxsync,
	.arm_irq	= vnic_netmap_arm_irq,
	.stack_rx	= vnic_netmap_stack_rx,
};

/**
 * vnic_netmap_setup_rings - the NIC rings from the krings, in netmap mode
 * @adapter: board private structure
 *
 * Called by vnic_up before the queues are enabled (spec 5.8 fills the
 * descriptors first), after reg or a reset, with no sync running.
 *
 * TX starts empty at hwcur: frames that were in flight are lost, their
 * slots are the program's again.  RX: the program keeps [hwcur, hwtail);
 * every other slot is armed (all of them after reg), and the device gets
 * them from hwtail up to the gap before hwcur.  Frames the device had
 * written but no rxsync had seen yet are lost.
 */
void vnic_netmap_setup_rings(struct vnic_adapter *adapter)
{
	struct nm_port *port = adapter->nm_port;
	unsigned int q;

	/* SRRCTL is programmed for VNIC_RX_BUFSZ */
	BUILD_BUG_ON(NM_BUF_SIZE != VNIC_RX_BUFSZ);

	for (q = 0; q < adapter->num_qp; q++) {
		struct vnic_ring *tx = &adapter->q_vectors[q].tx;
		struct vnic_ring *rx = &adapter->q_vectors[q].rx;
		struct nm_kring *txk = &port->tx_rings[q];
		struct nm_kring *rxk = &port->rx_rings[q];
		u32 i;

		txk->hwtail = nm_prev(txk, txk->hwcur);
		tx->next_to_clean = txk->hwcur;
		tx->next_to_use = txk->hwcur;
		*tx->head_wb = cpu_to_le32(txk->hwcur);

		i = rxk->hwtail;
		do {
			vnic_netmap_arm_rx(rxk, rx, i);
			i = nm_next(rxk, i);
		} while (i != rxk->hwcur);
		rx->next_to_clean = rxk->hwtail;
		rx->next_to_use = nm_prev(rxk, rxk->hwcur);
	}
}

/*
 * Around any other change of the rings while netmap has them (ndo_open,
 * ndo_stop, a reset): the syncs, arm_irq too, wait.  Called with RTNL.
 */
void vnic_netmap_stop_syncs(struct vnic_adapter *adapter)
{
	if (adapter->netmap)
		nm_port_stop_syncs(adapter->nm_port);
}

void vnic_netmap_start_syncs(struct vnic_adapter *adapter)
{
	if (adapter->netmap)
		nm_port_start_syncs(adapter->nm_port);
}

/*
 * What netmap programs are told of the rings; RTNL held.  Unchanged while
 * netmap has the rings: ethtool -L and -G are refused then.
 */
void vnic_netmap_set_rings(struct vnic_adapter *adapter)
{
	struct nm_port *port = adapter->nm_port;

	if (!port)
		return;
	port->num_tx_rings = adapter->num_qp;
	port->num_rx_rings = adapter->num_qp;
	port->num_tx_desc = adapter->tx_ring_count;
	port->num_rx_desc = adapter->rx_ring_count;
}

/* probe, once the netdev is registered: netmap programs may open it */
void vnic_netmap_attach(struct vnic_adapter *adapter)
{
	struct nm_port *port = nm_port_attach(adapter->netdev,
					      &adapter->pdev->dev, THIS_MODULE,
					      &vnic_netmap_ops, adapter);

	if (!port) {
		netdev_warn(adapter->netdev, "no netmap port, out of memory\n");
		return;
	}
	/* nm_port_attach takes netmap's locks that come before RTNL */
	rtnl_lock();
	adapter->nm_port = port;
	vnic_netmap_set_rings(adapter);
	rtnl_unlock();
}

/* remove, once the interface is closed and unregistered */
void vnic_netmap_detach(struct vnic_adapter *adapter)
{
	if (adapter->nm_port)
		nm_port_detach(adapter->nm_port);
	adapter->nm_port = NULL;
}
