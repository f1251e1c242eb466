// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_hw.c - ringlab vNIC driver: the device's registers
 *
 * Reset, link, statistics, address filters, the receive and transmit units
 * and interrupt routing, in the order of the initialisation sequence of
 * specs/ixgbe-subset.md section 5 ("spec 5.6").  Nothing here runs per
 * packet: these are the register reads and writes of bringing the device
 * up, reconfiguring it and the watchdog.
 */

#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/netdevice.h>
#include <linux/pci.h>

#include "vnic.h"

static int vnic_poll_bit(struct vnic_adapter *adapter, u32 reg, u32 mask,
			 u32 want)
{
	u32 val;

	return readl_poll_timeout(adapter->hw_addr + reg, val,
				  (val & mask) == want, 100, 100000);
}

/**
 * vnic_hw_reset - mask interrupts and reset the device (spec 5.1-5.3)
 * @adapter: board private structure
 *
 * Return: 0, or -EIO if the device does not come out of reset.
 */
int vnic_hw_reset(struct vnic_adapter *adapter)
{
	/* 5.1: nothing may interrupt us while we reset */
	vnic_wr32(adapter, VNIC_EIMC, ~0u);
	vnic_rd32(adapter, VNIC_EICR);

	/* 5.2: RST and LNK_RST self-clear when the reset is done */
	vnic_wr32(adapter, VNIC_CTRL, VNIC_CTRL_RST | VNIC_CTRL_LNK_RST);
	if (vnic_poll_bit(adapter, VNIC_CTRL,
			  VNIC_CTRL_RST | VNIC_CTRL_LNK_RST, 0))
		goto err;
	usleep_range(10000, 11000);
	vnic_wr32(adapter, VNIC_EIMC, ~0u);

	/* 5.3: EEPROM auto-read and DMA init done */
	if (vnic_poll_bit(adapter, VNIC_EEC, VNIC_EEC_ARD, VNIC_EEC_ARD) ||
	    vnic_poll_bit(adapter, VNIC_RDRXCTL, VNIC_RDRXCTL_DMAIDONE,
			  VNIC_RDRXCTL_DMAIDONE))
		goto err;
	adapter->resets++;
	return 0;
err:
	netdev_err(adapter->netdev, "device did not come out of reset\n");
	return -EIO;
}

/* 5.4: link setup; the model's link is up whenever its cable is */
static void vnic_hw_init_link(struct vnic_adapter *adapter)
{
	u32 autoc = vnic_rd32(adapter, VNIC_AUTOC);

	autoc &= ~(VNIC_AUTOC_LMS | VNIC_AUTOC_10G_PMA_PMD);
	autoc |= VNIC_AUTOC_LMS_10G_SERIAL | VNIC_AUTOC_10G_PMA_PMD_XAUI;
	vnic_wr32(adapter, VNIC_AUTOC, autoc | VNIC_AUTOC_AN_RESTART);
}

/* read the low half first: it latches the high half (spec 2.5) */
static u64 vnic_rd_stat64(struct vnic_adapter *adapter, u32 lo, u32 hi)
{
	u64 val = vnic_rd32(adapter, lo);

	return val | (u64)vnic_rd32(adapter, hi) << 32;
}

/**
 * vnic_update_hw_stats - add the clear-on-read statistics registers up
 * @adapter: board private structure
 *
 * Called from the watchdog, ethtool -S and before a reset; never per packet.
 */
void vnic_update_hw_stats(struct vnic_adapter *adapter)
{
	struct vnic_hw_stats *s = &adapter->hw_stats;

	if (test_bit(__VNIC_REMOVING, &adapter->state))
		return;
	spin_lock_bh(&adapter->stats_lock);
	s->gprc += vnic_rd32(adapter, VNIC_GPRC);
	s->gptc += vnic_rd32(adapter, VNIC_GPTC);
	s->gorc += vnic_rd_stat64(adapter, VNIC_GORCL, VNIC_GORCH);
	s->gotc += vnic_rd_stat64(adapter, VNIC_GOTCL, VNIC_GOTCH);
	s->bprc += vnic_rd32(adapter, VNIC_BPRC);
	s->mprc += vnic_rd32(adapter, VNIC_MPRC);
	s->bptc += vnic_rd32(adapter, VNIC_BPTC);
	s->mptc += vnic_rd32(adapter, VNIC_MPTC);
	s->tpr += vnic_rd32(adapter, VNIC_TPR);
	s->tpt += vnic_rd32(adapter, VNIC_TPT);
	s->mpc += vnic_rd32(adapter, VNIC_MPC(0));
	s->ruc += vnic_rd32(adapter, VNIC_RUC);
	s->roc += vnic_rd32(adapter, VNIC_ROC);
	s->rlec += vnic_rd32(adapter, VNIC_RLEC);
	spin_unlock_bh(&adapter->stats_lock);
}

/* the drop counters behind `ip -s link`, read by the watchdog */
void vnic_update_drop_stats(struct vnic_adapter *adapter)
{
	struct vnic_hw_stats *s = &adapter->hw_stats;

	spin_lock_bh(&adapter->stats_lock);
	s->mpc += vnic_rd32(adapter, VNIC_MPC(0));
	s->rlec += vnic_rd32(adapter, VNIC_RLEC);
	spin_unlock_bh(&adapter->stats_lock);
}

void vnic_write_rar(struct vnic_adapter *adapter, unsigned int i,
		    const u8 *addr)
{
	u32 ral = addr[0] | addr[1] << 8 | addr[2] << 16 | (u32)addr[3] << 24;
	u32 rah = addr[4] | addr[5] << 8 | VNIC_RAH_AV;

	vnic_wr32(adapter, VNIC_RAL(i), ral);
	vnic_wr32(adapter, VNIC_RAH(i), rah);
}

/* the MTA bit of a multicast address, as the device hashes it (MO = 0) */
static u32 vnic_mta_hash(const u8 *addr)
{
	return ((addr[4] >> 4) | ((u16)addr[5] << 4)) & 0xfff;
}

/**
 * vnic_set_rx_mode - program the address filters (spec 2.3 FCTRL, MTA, RAR)
 * @netdev: network interface
 *
 * RAR 0 holds our address, RAR 1.. the secondary unicast addresses; if they
 * do not fit, unicast promiscuous mode.  Multicast goes through the MTA.
 */
void vnic_set_rx_mode(struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	u32 mta[VNIC_MTA_COUNT] = { };
	struct netdev_hw_addr *ha;
	unsigned int i = 1;
	u32 fctrl;

	fctrl = vnic_rd32(adapter, VNIC_FCTRL);
	fctrl &= ~(VNIC_FCTRL_UPE | VNIC_FCTRL_MPE);
	fctrl |= VNIC_FCTRL_BAM;
	if (netdev->flags & IFF_PROMISC)
		fctrl |= VNIC_FCTRL_UPE | VNIC_FCTRL_MPE;
	if (netdev->flags & IFF_ALLMULTI)
		fctrl |= VNIC_FCTRL_MPE;

	if (netdev_uc_count(netdev) > VNIC_NUM_RAR - 1) {
		fctrl |= VNIC_FCTRL_UPE;
	} else {
		netdev_for_each_uc_addr(ha, netdev)
			vnic_write_rar(adapter, i++, ha->addr);
	}
	for (; i < VNIC_NUM_RAR; i++) {
		vnic_wr32(adapter, VNIC_RAH(i), 0);
		vnic_wr32(adapter, VNIC_RAL(i), 0);
	}

	netdev_for_each_mc_addr(ha, netdev) {
		u32 h = vnic_mta_hash(ha->addr);

		mta[h >> 5] |= BIT(h & 31);
	}
	for (i = 0; i < VNIC_MTA_COUNT; i++)
		vnic_wr32(adapter, VNIC_MTA(i), mta[i]);
	vnic_wr32(adapter, VNIC_MCSTCTRL, VNIC_MCSTCTRL_MFE);
	vnic_wr32(adapter, VNIC_FCTRL, fctrl);
}

/*
 * 5.8: write a queue's control register with its ENABLE bit, then wait until the
 * device reads it back set (the queue is live only then).
 */
static int vnic_enable_queue(struct vnic_adapter *adapter, u32 ctl_reg,
			     u32 ctl, u32 enable, const char *dir, u16 q)
{
	vnic_wr32(adapter, ctl_reg, ctl | enable);
	if (vnic_poll_bit(adapter, ctl_reg, enable, enable)) {
		netdev_err(adapter->netdev, "%s queue %u did not enable\n",
			   dir, q);
		return -EIO;
	}
	return 0;
}

/*
 * 5.6 and 5.8: one RX queue's registers, then ENABLE.  The queue starts
 * empty (RDH = RDT) at next_to_clean: 0, or in netmap mode where the kring
 * stands, so that slot i is descriptor i for as long as netmap has the ring.
 */
static int vnic_configure_rx_ring(struct vnic_adapter *adapter,
				  struct vnic_ring *ring)
{
	u16 q = ring->queue_index;
	u32 dca;

	vnic_wr32(adapter, VNIC_RXDCTL(q), 0);
	vnic_wr32(adapter, VNIC_SRRCTL(q),
		  VNIC_SRRCTL_DESCTYPE_ADV_ONEBUF | VNIC_SRRCTL_DROP_EN |
		  (VNIC_RX_BUFSZ >> 10));
	vnic_wr32(adapter, VNIC_RDBAL(q), lower_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_RDBAH(q), upper_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_RDLEN(q), ring->size);
	vnic_wr32(adapter, VNIC_RDH(q), ring->next_to_clean);
	vnic_wr32(adapter, VNIC_RDT(q), ring->next_to_clean);
	dca = vnic_rd32(adapter, VNIC_DCA_RXCTRL(q));
	vnic_wr32(adapter, VNIC_DCA_RXCTRL(q),
		  dca & ~VNIC_DCA_RXCTRL_DESC_RRO_EN);
	ring->tail = adapter->hw_addr + VNIC_RDT(q);

	return vnic_enable_queue(adapter, VNIC_RXDCTL(q), 0,
				 VNIC_RXDCTL_ENABLE, "RX", q);
}

/**
 * vnic_restart_rx_rings - every RX queue starts again with fresh buffers
 * @adapter: board private structure; up, not in netmap mode
 *
 * For StackMap's pool (vnic_rx_get_page): the buffers already in the
 * descriptors are replaced now, not a ring's worth of frames later.  Each
 * queue stops (ENABLE cleared and read back clear, 5.8), gives back its
 * buffers and starts empty; what arrives meanwhile the device drops and
 * counts, as in any reconfiguration.  The link stays up.  RTNL held.
 *
 * Return: 0, or -EIO if a queue does not stop or start.
 */
int vnic_restart_rx_rings(struct vnic_adapter *adapter)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < adapter->num_qp && !err; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		napi_disable(&qv->napi);
		vnic_wr32(adapter, VNIC_RXDCTL(i), 0);
		err = vnic_poll_bit(adapter, VNIC_RXDCTL(i),
				    VNIC_RXDCTL_ENABLE, 0);
		if (!err) {
			vnic_clean_rx_ring(&qv->rx);
			err = vnic_configure_rx_ring(adapter, &qv->rx);
		}
		if (!err)
			vnic_alloc_rx_buffers(&qv->rx, vnic_desc_unused(&qv->rx));
		napi_enable(&qv->napi);
	}
	return err;
}

/* RSS: spread received flows over the active queues (RETA, MRQC) */
static void vnic_configure_rss(struct vnic_adapter *adapter)
{
	unsigned int i, j;

	for (i = 0; i < VNIC_RETA_COUNT; i++) {
		u32 reta = 0;

		for (j = 0; j < 4; j++)
			reta |= ((i * 4 + j) % adapter->num_qp) << (8 * j);
		vnic_wr32(adapter, VNIC_RETA(i), reta);
	}
	vnic_wr32(adapter, VNIC_MRQC,
		  adapter->num_qp > 1 ? VNIC_MRQC_RSSEN : 0);
}

/**
 * vnic_configure_rx_csum - let the device check RX checksums, or not
 * @adapter: board private structure
 * @features: the netdev's features as they will be
 *
 * The device checks IPv4 header and TCP/UDP checksums only when asked
 * (RXCSUM.IPOFL/TUOFL) and reports them in the write-back; a netmap
 * program gets its frames untouched, so netmap mode does not ask.
 */
void vnic_configure_rx_csum(struct vnic_adapter *adapter,
			    netdev_features_t features)
{
	u32 rxcsum = vnic_rd32(adapter, VNIC_RXCSUM) &
		     ~(VNIC_RXCSUM_IPOFL | VNIC_RXCSUM_TUOFL);

	if ((features & NETIF_F_RXCSUM) && !adapter->netmap)
		rxcsum |= VNIC_RXCSUM_IPOFL | VNIC_RXCSUM_TUOFL;
	vnic_wr32(adapter, VNIC_RXCSUM, rxcsum);
}

/**
 * vnic_configure_rx - receive unit, spec 5.6 (then 5.8 per queue)
 * @adapter: board private structure
 *
 * Return: 0 or a negative errno.
 */
static int vnic_configure_rx(struct vnic_adapter *adapter)
{
	unsigned int i;
	int err;

	vnic_wr32(adapter, VNIC_RXCTRL,
		  vnic_rd32(adapter, VNIC_RXCTRL) & ~VNIC_RXCTRL_RXEN);
	vnic_wr32(adapter, VNIC_RXPBSIZE(0), 128 * 1024);
	for (i = 1; i < VNIC_RXPBSIZE_COUNT; i++)
		vnic_wr32(adapter, VNIC_RXPBSIZE(i), 0);
	/* the wire carries no FCS; strip it anyway, as real hardware needs */
	vnic_wr32(adapter, VNIC_HLREG0,
		  vnic_rd32(adapter, VNIC_HLREG0) | VNIC_HLREG0_RXCRCSTRP);
	vnic_wr32(adapter, VNIC_RDRXCTL,
		  vnic_rd32(adapter, VNIC_RDRXCTL) | VNIC_RDRXCTL_CRCSTRIP);
	vnic_wr32(adapter, VNIC_CTRL_EXT,
		  vnic_rd32(adapter, VNIC_CTRL_EXT) | VNIC_CTRL_EXT_NS_DIS);
	vnic_set_rx_mode(adapter->netdev);
	vnic_configure_rss(adapter);
	vnic_configure_rx_csum(adapter, adapter->netdev->features);

	for (i = 0; i < adapter->num_qp; i++) {
		err = vnic_configure_rx_ring(adapter,
					     &adapter->q_vectors[i].rx);
		if (err)
			return err;
	}
	vnic_wr32(adapter, VNIC_RXCTRL,
		  vnic_rd32(adapter, VNIC_RXCTRL) | VNIC_RXCTRL_RXEN);
	return 0;
}

/*
 * 5.7 and 5.8: one TX queue, empty at next_to_clean as RX above; WTHRESH 1
 * writes DD back at once.  In netmap mode the device also writes its head
 * to ring->head_wb, from which txsync reclaims (spec 4.3).
 */
static int vnic_configure_tx_ring(struct vnic_adapter *adapter,
				  struct vnic_ring *ring)
{
	u16 q = ring->queue_index;
	u32 txdctl;

	vnic_wr32(adapter, VNIC_TXDCTL(q), 0);
	vnic_wr32(adapter, VNIC_TDBAL(q), lower_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_TDBAH(q), upper_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_TDLEN(q), ring->size);
	vnic_wr32(adapter, VNIC_TDH(q), ring->next_to_clean);
	vnic_wr32(adapter, VNIC_TDT(q), ring->next_to_clean);
	vnic_wr32(adapter, VNIC_TDWBAH(q), upper_32_bits(ring->head_wb_dma));
	vnic_wr32(adapter, VNIC_TDWBAL(q), lower_32_bits(ring->head_wb_dma) |
		  (adapter->netmap ? VNIC_TDWBAL_HEAD_WB_EN : 0));
	ring->tail = adapter->hw_addr + VNIC_TDT(q);

	txdctl = 32 << VNIC_TXDCTL_PTHRESH_SHIFT |
		 1 << VNIC_TXDCTL_HTHRESH_SHIFT |
		 1 << VNIC_TXDCTL_WTHRESH_SHIFT;
	return vnic_enable_queue(adapter, VNIC_TXDCTL(q), txdctl,
				 VNIC_TXDCTL_ENABLE, "TX", q);
}

/**
 * vnic_configure_tx - transmit unit, spec 5.7 (then 5.8 per queue)
 * @adapter: board private structure
 *
 * DMATXCTL.TE must be set before the queues are enabled (spec 2.4).
 *
 * Return: 0 or a negative errno.
 */
static int vnic_configure_tx(struct vnic_adapter *adapter)
{
	unsigned int i;
	int err;

	vnic_wr32(adapter, VNIC_HLREG0, vnic_rd32(adapter, VNIC_HLREG0) |
		  VNIC_HLREG0_TXCRCEN | VNIC_HLREG0_TXPADEN);
	vnic_wr32(adapter, VNIC_TXPBSIZE(0), 40 * 1024);
	for (i = 1; i < VNIC_TXPBSIZE_COUNT; i++)
		vnic_wr32(adapter, VNIC_TXPBSIZE(i), 0);
	vnic_wr32(adapter, VNIC_DTXMXSZRQ, 0xffff);
	vnic_wr32(adapter, VNIC_RTTDCS,
		  vnic_rd32(adapter, VNIC_RTTDCS) & ~VNIC_RTTDCS_ARBDIS);
	vnic_wr32(adapter, VNIC_DMATXCTL,
		  vnic_rd32(adapter, VNIC_DMATXCTL) | VNIC_DMATXCTL_TE);

	for (i = 0; i < adapter->num_qp; i++) {
		err = vnic_configure_tx_ring(adapter,
					     &adapter->q_vectors[i].tx);
		if (err)
			return err;
	}
	return 0;
}

/**
 * vnic_hw_init - reset the device and start its queues, spec 5.1-5.8
 * @adapter: board private structure
 *
 * The rings must be allocated.  The RX queues are enabled empty: filling
 * them (the RDT write of 5.8) and interrupts (5.9) are the caller's.
 *
 * Return: 0 or a negative errno; the device is left reset then.
 */
int vnic_hw_init(struct vnic_adapter *adapter)
{
	int err;

	vnic_update_hw_stats(adapter);	/* the reset clears them */
	err = vnic_hw_reset(adapter);
	if (err)
		return err;
	vnic_hw_init_link(adapter);
	vnic_write_rar(adapter, 0, adapter->netdev->dev_addr);

	err = vnic_configure_rx(adapter);
	if (!err)
		err = vnic_configure_tx(adapter);
	/* some queues may be live: stop DMA into rings about to be freed */
	if (err)
		vnic_hw_reset(adapter);
	return err;
}

static u32 vnic_itr_reg(unsigned int usecs)
{
	/* ITR_INTERVAL counts 2 us units from bit 3: usecs << 2 (spec 4.4) */
	u32 reg = (usecs << 2) & VNIC_EITR_ITR_INTERVAL;

	/* 1 us must not become 0, which means no throttling at all */
	return usecs && !reg ? 1 << VNIC_EITR_ITR_INTERVAL_SHIFT : reg;
}

/**
 * vnic_set_itr - program the interrupt throttle of every queue vector
 * @adapter: board private structure
 * @usecs: minimum gap between two interrupts of a vector, 0 = none
 */
void vnic_set_itr(struct vnic_adapter *adapter, unsigned int usecs)
{
	unsigned int i;

	adapter->itr_usecs = usecs;
	if (test_bit(__VNIC_DOWN, &adapter->state))
		return;
	for (i = 0; i < adapter->num_qp; i++)
		vnic_wr32(adapter, VNIC_EITR(adapter->q_vectors[i].v_idx),
			  vnic_itr_reg(usecs));
}

static void vnic_set_ivar(struct vnic_adapter *adapter, u16 queue, bool tx,
			  u16 vector)
{
	u32 reg = VNIC_IVAR(queue >> 1);
	unsigned int shift = 16 * (queue & 1) + 8 * tx;
	u32 ivar = vnic_rd32(adapter, reg);

	ivar &= ~(0xffu << shift);
	ivar |= (u32)(vector | VNIC_IVAR_ALLOC_VAL) << shift;
	vnic_wr32(adapter, reg, ivar);
}

/**
 * vnic_configure_irq - interrupt routing and moderation, spec 5.9 and 4.5
 * @adapter: board private structure
 *
 * MSI-X: each queue pair's causes go to its own vector, which the device
 * auto-clears (EIAC) and auto-masks (EIAM with GPIE.EIAME) when it fires,
 * so the handler needs no register access; NAPI unmasks it when done.
 * Link and other causes go to vector 0 through IVAR_MISC.
 * MSI and INTx: one vector, EICR bit 0 for queue pair 0, read-to-clear.
 */
void vnic_configure_irq(struct vnic_adapter *adapter)
{
	u32 queue_mask = 0;
	unsigned int i;

	if (adapter->irq_mode == VNIC_IRQ_MSIX) {
		vnic_wr32(adapter, VNIC_GPIE, VNIC_GPIE_MSIX_MODE |
			  VNIC_GPIE_PBA_SUPPORT | VNIC_GPIE_EIAME);
		vnic_wr32(adapter, VNIC_IVAR_MISC,
			  (VNIC_MISC_VECTOR | VNIC_IVAR_ALLOC_VAL) <<
			  VNIC_IVAR_MISC_OTHER_SHIFT);
	} else {
		vnic_wr32(adapter, VNIC_GPIE, 0);
	}
	for (i = 0; i < VNIC_IVAR_COUNT; i++)
		vnic_wr32(adapter, VNIC_IVAR(i), 0);
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		vnic_set_ivar(adapter, i, false, qv->v_idx);
		vnic_set_ivar(adapter, i, true, qv->v_idx);
		queue_mask |= qv->eims;
	}
	if (adapter->irq_mode == VNIC_IRQ_MSIX) {
		vnic_wr32(adapter, VNIC_EIAC, queue_mask);
		vnic_wr32(adapter, VNIC_EIAM, queue_mask);
	}
	vnic_set_itr(adapter, adapter->itr_usecs);
}

void vnic_irq_enable(struct vnic_adapter *adapter)
{
	u32 mask = VNIC_EIMS_LSC;
	unsigned int i;

	for (i = 0; i < adapter->num_qp; i++)
		mask |= adapter->q_vectors[i].eims;
	vnic_wr32(adapter, VNIC_EIMS, mask);
}

void vnic_irq_disable(struct vnic_adapter *adapter)
{
	unsigned int i;

	vnic_wr32(adapter, VNIC_EIMC, ~0u);
	if (adapter->misc_irq_requested)
		synchronize_irq(pci_irq_vector(adapter->pdev, 0));
	for (i = 0; i < adapter->num_qp; i++)
		synchronize_irq(adapter->q_vectors[i].irq);
}

/* LINKS, on a link change interrupt and from the watchdog: carrier follows */
void vnic_check_link(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	bool up = vnic_rd32(adapter, VNIC_LINKS) & VNIC_LINKS_LINK_UP;

	if (up == netif_carrier_ok(netdev))
		return;
	adapter->link_changes++;
	if (up) {
		netdev_info(netdev, "link up, 10 Gbps full duplex\n");
		netif_carrier_on(netdev);
	} else {
		netdev_info(netdev, "link down\n");
		netif_carrier_off(netdev);
	}
}

