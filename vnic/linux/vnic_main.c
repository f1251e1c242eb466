// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_main.c - ringlab vNIC driver: probe, init, interrupts, TX, RX, NAPI
 *
 * The device is the ixgbe-like Python model of ringlab.  Section numbers in
 * comments ("spec 5.6") refer to specs/ixgbe-subset.md, the programming
 * model this driver follows.
 *
 * Per-packet work touches only descriptor rings in memory and posted
 * register writes (tail doorbells, EIMS).  A register read traps to the
 * device model (~12 us), so none happens on the packet path: TX completions
 * come from DD write-back, interrupts are auto-cleared and auto-masked by
 * the device in MSI-X mode.
 */

#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <net/netdev_queues.h>
#include <net/page_pool/helpers.h>

#include "vnic.h"

static unsigned int queues = VNIC_DEFAULT_QUEUES;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "Queue pairs at load time (1-8, default 2)");

static unsigned int irq_mode;
module_param(irq_mode, uint, 0444);
MODULE_PARM_DESC(irq_mode,
		 "0: MSI-X, else MSI, else INTx (default); 1: MSI; 2: INTx");

static const struct pci_device_id vnic_pci_tbl[] = {
	{ PCI_DEVICE(VNIC_PCI_VENDOR_ID, VNIC_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vnic_pci_tbl);

/* ------------------------------------------------------------------------
 * Hardware: reset and initialisation in the order of spec section 5
 * ------------------------------------------------------------------------
 */

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
static int vnic_hw_reset(struct vnic_adapter *adapter)
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
static void vnic_update_drop_stats(struct vnic_adapter *adapter)
{
	struct vnic_hw_stats *s = &adapter->hw_stats;

	spin_lock_bh(&adapter->stats_lock);
	s->mpc += vnic_rd32(adapter, VNIC_MPC(0));
	s->rlec += vnic_rd32(adapter, VNIC_RLEC);
	spin_unlock_bh(&adapter->stats_lock);
}

static void vnic_write_rar(struct vnic_adapter *adapter, unsigned int i,
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
static void vnic_set_rx_mode(struct net_device *netdev)
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

static int vnic_set_mac(struct net_device *netdev, void *p)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	struct sockaddr *addr = p;

	if (!is_valid_ether_addr(addr->sa_data))
		return -EADDRNOTAVAIL;
	eth_hw_addr_set(netdev, addr->sa_data);
	vnic_write_rar(adapter, 0, netdev->dev_addr);
	return 0;
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

/* 5.6 and 5.8: one RX queue's registers, its buffers, then ENABLE */
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
	vnic_wr32(adapter, VNIC_RDH(q), 0);
	vnic_wr32(adapter, VNIC_RDT(q), 0);
	dca = vnic_rd32(adapter, VNIC_DCA_RXCTRL(q));
	vnic_wr32(adapter, VNIC_DCA_RXCTRL(q),
		  dca & ~VNIC_DCA_RXCTRL_DESC_RRO_EN);
	ring->tail = adapter->hw_addr + VNIC_RDT(q);

	return vnic_enable_queue(adapter, VNIC_RXDCTL(q), 0,
				 VNIC_RXDCTL_ENABLE, "RX", q);
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

/* 5.7 and 5.8: one TX queue; WTHRESH 1 writes DD back at once */
static int vnic_configure_tx_ring(struct vnic_adapter *adapter,
				  struct vnic_ring *ring)
{
	u16 q = ring->queue_index;
	u32 txdctl;

	vnic_wr32(adapter, VNIC_TXDCTL(q), 0);
	vnic_wr32(adapter, VNIC_TDBAL(q), lower_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_TDBAH(q), upper_32_bits(ring->dma));
	vnic_wr32(adapter, VNIC_TDLEN(q), ring->size);
	vnic_wr32(adapter, VNIC_TDH(q), 0);
	vnic_wr32(adapter, VNIC_TDT(q), 0);
	vnic_wr32(adapter, VNIC_TDWBAL(q), 0);
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
static void vnic_configure_irq(struct vnic_adapter *adapter)
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

static void vnic_irq_enable(struct vnic_adapter *adapter)
{
	u32 mask = VNIC_EIMS_LSC;
	unsigned int i;

	for (i = 0; i < adapter->num_qp; i++)
		mask |= adapter->q_vectors[i].eims;
	vnic_wr32(adapter, VNIC_EIMS, mask);
}

static void vnic_irq_disable(struct vnic_adapter *adapter)
{
	unsigned int i;

	vnic_wr32(adapter, VNIC_EIMC, ~0u);
	if (adapter->misc_irq_requested)
		synchronize_irq(pci_irq_vector(adapter->pdev, 0));
	for (i = 0; i < adapter->num_qp; i++)
		synchronize_irq(adapter->q_vectors[i].irq);
}

/* ------------------------------------------------------------------------
 * Link
 * ------------------------------------------------------------------------
 */

static void vnic_check_link(struct vnic_adapter *adapter)
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

static void vnic_link_task(struct work_struct *work)
{
	struct vnic_adapter *adapter =
		container_of(work, struct vnic_adapter, link_task);

	if (!test_bit(__VNIC_DOWN, &adapter->state))
		vnic_check_link(adapter);
}

/* ------------------------------------------------------------------------
 * Interrupt handlers
 * ------------------------------------------------------------------------
 */

/* MSI-X queue vector: the device already cleared and masked it */
static irqreturn_t vnic_msix_ring(int irq, void *data)
{
	struct vnic_q_vector *qv = data;

	napi_schedule_irqoff(&qv->napi);
	return IRQ_HANDLED;
}

/* MSI-X vector 0: link and other causes; rare, so reading EICR is fine */
static irqreturn_t vnic_msix_other(int irq, void *data)
{
	struct vnic_adapter *adapter = data;
	u32 eicr = vnic_rd32(adapter, VNIC_EICR) & ~VNIC_EICR_RTX_QUEUE;

	vnic_wr32(adapter, VNIC_EICR, eicr);
	if (eicr & VNIC_EICR_LSC)
		schedule_work(&adapter->link_task);
	if (!test_bit(__VNIC_DOWN, &adapter->state))
		vnic_wr32(adapter, VNIC_EIMS, VNIC_EIMS_LSC);
	return IRQ_HANDLED;
}

/* MSI or INTx: one vector for everything; reading EICR clears it */
static irqreturn_t vnic_intr(int irq, void *data)
{
	struct vnic_adapter *adapter = data;
	struct vnic_q_vector *qv = &adapter->q_vectors[0];
	u32 eicr = vnic_rd32(adapter, VNIC_EICR);

	if (!eicr)
		return IRQ_NONE;	/* a shared INTx line: not ours */
	if (eicr & VNIC_EICR_LSC)
		schedule_work(&adapter->link_task);
	if (eicr & qv->eims) {
		vnic_wr32(adapter, VNIC_EIMC, qv->eims);
		napi_schedule_irqoff(&qv->napi);
	}
	return IRQ_HANDLED;
}

static void vnic_free_irqs(struct vnic_adapter *adapter)
{
	unsigned int i;

	if (adapter->irq_mode != VNIC_IRQ_MSIX) {
		free_irq(pci_irq_vector(adapter->pdev, 0), adapter);
		return;
	}
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		irq_set_affinity_hint(qv->irq, NULL);
		free_irq(qv->irq, qv);
	}
	free_irq(pci_irq_vector(adapter->pdev, VNIC_MISC_VECTOR), adapter);
	adapter->misc_irq_requested = false;
}

static int vnic_request_irqs(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	struct pci_dev *pdev = adapter->pdev;
	unsigned int i;
	int err;

	if (adapter->irq_mode != VNIC_IRQ_MSIX)
		return request_irq(pci_irq_vector(pdev, 0), vnic_intr,
				   adapter->irq_mode == VNIC_IRQ_INTX ?
				   IRQF_SHARED : 0, netdev->name, adapter);

	err = request_irq(pci_irq_vector(pdev, VNIC_MISC_VECTOR),
			  vnic_msix_other, 0, netdev->name, adapter);
	if (err)
		return err;
	adapter->misc_irq_requested = true;
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		snprintf(qv->name, sizeof(qv->name), "%s-TxRx-%u",
			 netdev->name, i);
		err = request_irq(qv->irq, vnic_msix_ring, 0, qv->name, qv);
		if (err)
			goto err_unwind;
		irq_set_affinity_hint(qv->irq,
				      cpumask_of(i % num_online_cpus()));
	}
	return 0;

err_unwind:
	while (i--) {
		irq_set_affinity_hint(adapter->q_vectors[i].irq, NULL);
		free_irq(adapter->q_vectors[i].irq, &adapter->q_vectors[i]);
	}
	free_irq(pci_irq_vector(pdev, VNIC_MISC_VECTOR), adapter);
	adapter->misc_irq_requested = false;
	return err;
}

/**
 * vnic_alloc_irq_vectors - MSI-X, else MSI, else INTx
 * @adapter: board private structure
 *
 * MSI-X gets one vector per possible queue pair plus one for link/other.
 *
 * Return: 0 or a negative errno.
 */
static int vnic_alloc_irq_vectors(struct vnic_adapter *adapter)
{
	struct pci_dev *pdev = adapter->pdev;
	int n;

	if (irq_mode > VNIC_IRQ_INTX) {
		dev_warn(&pdev->dev, "irq_mode=%u is not 0, 1 or 2; using 0\n",
			 irq_mode);
		irq_mode = VNIC_IRQ_MSIX;
	}
	n = -EINVAL;
	if (irq_mode == VNIC_IRQ_MSIX)
		n = pci_alloc_irq_vectors(pdev, 2, VNIC_NUM_QUEUES + 1,
					  PCI_IRQ_MSIX);
	if (n > 0) {
		adapter->irq_mode = VNIC_IRQ_MSIX;
		adapter->num_irqs = n;
		adapter->max_qp = n - 1;
		return 0;
	}
	n = -EINVAL;
	if (irq_mode <= VNIC_IRQ_MSI)
		n = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (n > 0) {
		adapter->irq_mode = VNIC_IRQ_MSI;
	} else {
		n = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX);
		if (n < 0)
			return n;
		adapter->irq_mode = VNIC_IRQ_INTX;
	}
	dev_info(&pdev->dev, "no MSI-X, using %s and one queue pair\n",
		 adapter->irq_mode == VNIC_IRQ_MSI ? "MSI" : "INTx");
	adapter->num_irqs = 1;
	adapter->max_qp = 1;
	return 0;
}

/* ------------------------------------------------------------------------
 * TX
 * ------------------------------------------------------------------------
 */

static void vnic_unmap_tx_buffer(struct vnic_ring *ring,
				 struct vnic_tx_buffer *buf)
{
	if (buf->len) {
		if (buf->mapped_as_page)
			dma_unmap_page(ring->dev, buf->dma, buf->len,
				       DMA_TO_DEVICE);
		else
			dma_unmap_single(ring->dev, buf->dma, buf->len,
					 DMA_TO_DEVICE);
	}
	buf->len = 0;
}

/**
 * vnic_clean_tx_irq - reclaim transmitted packets (spec 4.3)
 * @qv: the vector whose TX ring to clean
 * @napi_budget: NAPI budget, 0 from netpoll
 *
 * Every packet's last descriptor carries RS, so the device writes DD back
 * into it when the packet has gone; nothing else is read.
 *
 * Return: true if the whole ring was cleaned.
 */
static bool vnic_clean_tx_irq(struct vnic_q_vector *qv, int napi_budget)
{
	struct vnic_ring *ring = &qv->tx;
	unsigned int pkts = 0, bytes = 0, budget = ring->count;
	u16 i = ring->next_to_clean;

	for (; budget; budget--) {
		struct vnic_tx_buffer *first = &ring->tx_buffer_info[i];
		union vnic_adv_tx_desc *eop = READ_ONCE(first->next_to_watch);
		u16 eop_idx;

		if (!eop)
			break;
		/* read the descriptor only after next_to_watch */
		smp_rmb();
		if (!(eop->wb.status & cpu_to_le32(VNIC_TXD_DD)))
			break;
		first->next_to_watch = NULL;
		pkts++;
		bytes += first->bytecount;
		napi_consume_skb(first->skb, napi_budget);
		first->skb = NULL;

		eop_idx = eop - VNIC_TX_DESC(ring, 0);
		for (;;) {
			vnic_unmap_tx_buffer(ring, &ring->tx_buffer_info[i]);
			if (i == eop_idx)
				break;
			i = (i + 1 == ring->count) ? 0 : i + 1;
		}
		i = (i + 1 == ring->count) ? 0 : i + 1;
	}
	WRITE_ONCE(ring->next_to_clean, i);

	u64_stats_update_begin(&ring->stats.syncp);
	ring->stats.packets += pkts;
	ring->stats.bytes += bytes;
	u64_stats_update_end(&ring->stats.syncp);

	if (!netif_subqueue_completed_wake(ring->netdev, ring->queue_index,
					   pkts, bytes,
					   vnic_desc_unused(ring),
					   VNIC_TX_WAKE_THRESHOLD)) {
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.restart_queue++;
		u64_stats_update_end(&ring->stats.syncp);
	}
	return budget != 0;
}

static u16 vnic_select_queue(struct net_device *netdev, struct sk_buff *skb,
			     struct net_device *sb_dev)
{
	/* a flow stays on one queue, flows spread over all of them */
	return reciprocal_scale(skb_get_hash(skb),
				netdev->real_num_tx_queues);
}

/**
 * vnic_xmit_frame - put one skb on its TX ring (spec 3.3, 4.3)
 * @skb: the packet, linear part and page fragments
 * @netdev: network interface
 *
 * One advanced data descriptor per buffer, EOP and RS on the last.  The
 * tail doorbell is written only when the stack has no more packets for us
 * right now (xmit_more) or the queue stops: one posted write per batch.
 *
 * Return: NETDEV_TX_OK, or NETDEV_TX_BUSY if the ring was full.
 */
static netdev_tx_t vnic_xmit_frame(struct sk_buff *skb,
				   struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	u16 qidx = skb_get_queue_mapping(skb);
	struct vnic_ring *ring = &adapter->q_vectors[qidx].tx;
	unsigned int nr_frags = skb_shinfo(skb)->nr_frags;
	union vnic_adv_tx_desc *desc = NULL;
	struct vnic_tx_buffer *first, *buf;
	u32 cmd = VNIC_TXD_DTYP_DATA | VNIC_TXD_DEXT | VNIC_TXD_IFCS;
	unsigned int f, len;
	u16 i = ring->next_to_use;
	dma_addr_t dma;

	if (unlikely(vnic_desc_unused(ring) < nr_frags + 1)) {
		netif_stop_subqueue(netdev, qidx);
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.tx_busy++;
		u64_stats_update_end(&ring->stats.syncp);
		return NETDEV_TX_BUSY;
	}

	first = &ring->tx_buffer_info[i];
	len = skb_headlen(skb);
	dma = dma_map_single(ring->dev, skb->data, len, DMA_TO_DEVICE);
	for (f = 0;; f++) {
		buf = &ring->tx_buffer_info[i];
		if (dma_mapping_error(ring->dev, dma))
			goto err_dma;
		buf->dma = dma;
		buf->len = len;
		buf->mapped_as_page = f > 0;

		desc = VNIC_TX_DESC(ring, i);
		desc->read.buffer_addr = cpu_to_le64(dma);
		desc->read.cmd_type_len = cpu_to_le32(cmd | len);
		/* PAYLEN on the first descriptor; this clears a stale DD */
		desc->read.olinfo_status =
			cpu_to_le32(f ? 0 : skb->len << VNIC_TXD_PAYLEN_SHIFT);

		if (f == nr_frags)
			break;
		i = (i + 1 == ring->count) ? 0 : i + 1;
		len = skb_frag_size(&skb_shinfo(skb)->frags[f]);
		dma = skb_frag_dma_map(ring->dev, &skb_shinfo(skb)->frags[f],
				       0, len, DMA_TO_DEVICE);
	}
	desc->read.cmd_type_len |= cpu_to_le32(VNIC_TXD_EOP | VNIC_TXD_RS);

	first->skb = skb;
	first->bytecount = max_t(unsigned int, skb->len, ETH_ZLEN);
	skb_tx_timestamp(skb);
	/* descriptors before next_to_watch: cleanup reads them after it */
	smp_wmb();
	WRITE_ONCE(first->next_to_watch, desc);

	i = (i + 1 == ring->count) ? 0 : i + 1;
	WRITE_ONCE(ring->next_to_use, i);

	netif_subqueue_maybe_stop(netdev, qidx, vnic_desc_unused(ring),
				  VNIC_TX_DESC_NEEDED + 1,
				  VNIC_TX_WAKE_THRESHOLD);

	/* writel orders the descriptor writes before the doorbell */
	if (__netdev_tx_sent_queue(netdev_get_tx_queue(netdev, qidx),
				   first->bytecount, netdev_xmit_more()))
		writel(i, ring->tail);
	return NETDEV_TX_OK;

err_dma:
	/* unmap what was mapped, from the packet's first slot up to i */
	for (;;) {
		buf = &ring->tx_buffer_info[i];
		vnic_unmap_tx_buffer(ring, buf);
		if (buf == first)
			break;
		i = i ? i - 1 : ring->count - 1;
	}
	dev_kfree_skb_any(skb);
	u64_stats_update_begin(&ring->stats.syncp);
	ring->stats.tx_dma_failed++;
	u64_stats_update_end(&ring->stats.syncp);
	return NETDEV_TX_OK;
}

/* ------------------------------------------------------------------------
 * RX
 * ------------------------------------------------------------------------
 */

/**
 * vnic_alloc_rx_buffers - arm up to @n free RX slots, then one doorbell
 * @ring: the RX ring
 * @n: how many slots to arm at most
 *
 * Writing hdr_addr = 0 clears the slot's stale DD bit (spec 3.1).  RDT is
 * set to next_to_use: the device owns [RDH, RDT) (spec 4.2).
 *
 * Return: false if the page pool ran dry.
 */
static bool vnic_alloc_rx_buffers(struct vnic_ring *ring, u16 n)
{
	u16 i = ring->next_to_use;
	bool ok = true;

	if (!n)
		return true;
	while (n--) {
		union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];

		buf->page = page_pool_dev_alloc_pages(ring->page_pool);
		if (unlikely(!buf->page)) {
			u64_stats_update_begin(&ring->stats.syncp);
			ring->stats.alloc_failed++;
			u64_stats_update_end(&ring->stats.syncp);
			ok = false;
			break;
		}
		desc->read.pkt_addr =
			cpu_to_le64(page_pool_get_dma_addr(buf->page) +
				    VNIC_RX_HEADROOM);
		desc->read.hdr_addr = 0;
		i = (i + 1 == ring->count) ? 0 : i + 1;
	}
	if (i != ring->next_to_use) {
		ring->next_to_use = i;
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.refills++;
		u64_stats_update_end(&ring->stats.syncp);
		/* writel orders the descriptor writes before the doorbell */
		writel(i, ring->tail);
	}
	return ok;
}

/**
 * vnic_build_rx_skb - an skb for a received frame
 * @qv: the vector (its NAPI context allocates)
 * @page: the page the frame is in, at VNIC_RX_HEADROOM
 * @len: frame length, already validated
 *
 * A small frame is copied into a small skb and its page goes straight back
 * to the pool: a socket is charged the skb's truesize, and a whole page per
 * 64-byte datagram would fill receive buffers 30 times too early.  Larger
 * frames keep their page, which returns to the pool when the skb is freed.
 *
 * Return: the skb, or NULL (the page is still ours then).
 */
static struct sk_buff *vnic_build_rx_skb(struct vnic_q_vector *qv,
					 struct page *page, u16 len)
{
	struct vnic_ring *ring = &qv->rx;
	void *va = page_address(page);
	struct sk_buff *skb;

	if (len <= VNIC_RX_COPYBREAK) {
		skb = napi_alloc_skb(&qv->napi, len);
		if (!skb)
			return NULL;
		memcpy(__skb_put(skb, len), va + VNIC_RX_HEADROOM, len);
		page_pool_put_full_page(ring->page_pool, page, true);
		return skb;
	}
	skb = napi_build_skb(va, PAGE_SIZE);
	if (!skb)
		return NULL;
	skb_mark_for_recycle(skb);
	skb_reserve(skb, VNIC_RX_HEADROOM);
	__skb_put(skb, len);
	return skb;
}

/**
 * vnic_clean_rx_irq - pass received frames up, refill in batches (spec 4.2)
 * @qv: the vector whose RX ring to clean
 * @budget: frames we may pass up
 *
 * A frame must fit one buffer: the device splits larger ones (no EOP), and
 * those, like descriptors with error bits or impossible lengths, are
 * dropped and counted.  The checksum is left to the stack.
 *
 * Return: frames passed up.
 */
static int vnic_clean_rx_irq(struct vnic_q_vector *qv, int budget)
{
	struct vnic_ring *ring = &qv->rx;
	unsigned int pkts = 0, bytes = 0, len_err = 0, hw_err = 0;
	u16 i = ring->next_to_clean;
	u16 cleaned = 0;

	while (pkts < budget) {
		union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];
		struct page *page = buf->page;
		struct sk_buff *skb;
		u32 status;
		u16 len;

		status = le32_to_cpu(desc->wb.status_error);
		if (!(status & VNIC_RXD_DD) || !page)
			break;
		/* the length is valid only once DD is seen */
		dma_rmb();
		len = le16_to_cpu(desc->wb.length);
		buf->page = NULL;
		i = (i + 1 == ring->count) ? 0 : i + 1;
		cleaned++;

		if (unlikely(ring->discarding || !(status & VNIC_RXD_EOP) ||
			     !len || len > VNIC_RX_BUFSZ)) {
			ring->discarding = !(status & VNIC_RXD_EOP);
			len_err += !ring->discarding;
			goto drop;
		}
		if (unlikely(status & (VNIC_RXD_ERR_RXE | VNIC_RXD_ERR_LE))) {
			hw_err++;
			goto drop;
		}

		dma_sync_single_range_for_cpu(ring->dev,
					      page_pool_get_dma_addr(page),
					      VNIC_RX_HEADROOM, len,
					      DMA_FROM_DEVICE);
		skb = vnic_build_rx_skb(qv, page, len);
		if (unlikely(!skb)) {
			u64_stats_update_begin(&ring->stats.syncp);
			ring->stats.alloc_failed++;
			u64_stats_update_end(&ring->stats.syncp);
			goto drop;
		}
		skb->protocol = eth_type_trans(skb, ring->netdev);
		skb_record_rx_queue(skb, ring->queue_index);
		pkts++;
		bytes += len;
		napi_gro_receive(&qv->napi, skb);
		goto next;
drop:
		page_pool_put_full_page(ring->page_pool, page, true);
next:
		if (cleaned >= VNIC_RX_REFILL_BATCH) {
			ring->next_to_clean = i;
			vnic_alloc_rx_buffers(ring, vnic_desc_unused(ring));
			cleaned = 0;
		}
	}
	ring->next_to_clean = i;
	if (cleaned)
		vnic_alloc_rx_buffers(ring, vnic_desc_unused(ring));

	u64_stats_update_begin(&ring->stats.syncp);
	ring->stats.packets += pkts;
	ring->stats.bytes += bytes;
	ring->stats.length_errors += len_err;
	ring->stats.hw_errors += hw_err;
	u64_stats_update_end(&ring->stats.syncp);
	return pkts;
}

/**
 * vnic_poll - NAPI: reclaim TX, receive up to @budget, then unmask
 * @napi: the vector's NAPI context
 * @budget: frames we may pass up
 *
 * Return: frames passed up; @budget if we want to be polled again.
 */
static int vnic_poll(struct napi_struct *napi, int budget)
{
	struct vnic_q_vector *qv = container_of(napi, struct vnic_q_vector,
						napi);
	struct vnic_adapter *adapter = qv->adapter;
	bool tx_done = vnic_clean_tx_irq(qv, budget);
	int done = budget ? vnic_clean_rx_irq(qv, budget) : 0;

	/* an RX ring that could not be refilled keeps us polling */
	if (vnic_desc_unused(&qv->rx) >= qv->rx.count - 1)
		vnic_alloc_rx_buffers(&qv->rx, vnic_desc_unused(&qv->rx));
	if (!tx_done || done >= budget)
		return budget;
	if (napi_complete_done(napi, done) &&
	    !test_bit(__VNIC_DOWN, &adapter->state))
		vnic_wr32(adapter, VNIC_EIMS, qv->eims);
	return min(done, budget - 1);
}

/* ------------------------------------------------------------------------
 * Ring memory
 * ------------------------------------------------------------------------
 */

static int vnic_alloc_ring_mem(struct vnic_ring *ring, size_t buf_size)
{
	ring->size = ALIGN(ring->count * VNIC_DESC_SIZE, VNIC_RING_ALIGN);
	ring->desc = dma_alloc_coherent(ring->dev, ring->size, &ring->dma,
					GFP_KERNEL);
	if (!ring->desc)
		return -ENOMEM;
	/* the device wants 128-byte aligned rings; coherent memory is paged */
	WARN_ON(ring->dma & (VNIC_RING_ALIGN - 1));
	ring->tx_buffer_info = kvcalloc(ring->count, buf_size, GFP_KERNEL);
	if (!ring->tx_buffer_info) {
		dma_free_coherent(ring->dev, ring->size, ring->desc, ring->dma);
		ring->desc = NULL;
		return -ENOMEM;
	}
	ring->next_to_use = 0;
	ring->next_to_clean = 0;
	ring->discarding = false;
	u64_stats_init(&ring->stats.syncp);
	return 0;
}

static void vnic_free_ring_mem(struct vnic_ring *ring)
{
	kvfree(ring->tx_buffer_info);
	ring->tx_buffer_info = NULL;
	if (ring->desc)
		dma_free_coherent(ring->dev, ring->size, ring->desc, ring->dma);
	ring->desc = NULL;
}

static int vnic_setup_rx_ring(struct vnic_ring *ring)
{
	struct page_pool_params pp = {
		.flags = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV,
		.order = 0,
		.pool_size = ring->count,
		.nid = NUMA_NO_NODE,
		.dev = ring->dev,
		.dma_dir = DMA_FROM_DEVICE,
		.offset = VNIC_RX_HEADROOM,
		.max_len = VNIC_RX_BUFSZ,
		.netdev = ring->netdev,
		.queue_idx = ring->queue_index,
	};
	int err;

	err = vnic_alloc_ring_mem(ring, sizeof(struct vnic_rx_buffer));
	if (err)
		return err;
	ring->page_pool = page_pool_create(&pp);
	if (IS_ERR(ring->page_pool)) {
		err = PTR_ERR(ring->page_pool);
		ring->page_pool = NULL;
		vnic_free_ring_mem(ring);
		return err;
	}
	return 0;
}

static void vnic_clean_rx_ring(struct vnic_ring *ring)
{
	u16 i;

	if (!ring->rx_buffer_info)
		return;
	for (i = 0; i < ring->count; i++) {
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];

		if (buf->page)
			page_pool_put_full_page(ring->page_pool, buf->page,
						false);
		buf->page = NULL;
	}
	ring->next_to_use = 0;
	ring->next_to_clean = 0;
	ring->discarding = false;
}

static void vnic_free_rx_ring(struct vnic_ring *ring)
{
	vnic_clean_rx_ring(ring);
	if (ring->page_pool)
		page_pool_destroy(ring->page_pool);
	ring->page_pool = NULL;
	vnic_free_ring_mem(ring);
}

static void vnic_clean_tx_ring(struct vnic_ring *ring)
{
	u16 i;

	if (!ring->tx_buffer_info)
		return;
	for (i = 0; i < ring->count; i++) {
		struct vnic_tx_buffer *buf = &ring->tx_buffer_info[i];

		vnic_unmap_tx_buffer(ring, buf);
		if (buf->skb)
			dev_kfree_skb_any(buf->skb);
		buf->skb = NULL;
		buf->next_to_watch = NULL;
	}
	netdev_tx_reset_queue(netdev_get_tx_queue(ring->netdev,
						  ring->queue_index));
	ring->next_to_use = 0;
	ring->next_to_clean = 0;
}

static void vnic_save_ring_stats(struct vnic_adapter *adapter,
				 struct vnic_q_vector *qv)
{
	adapter->old_tx_packets += qv->tx.stats.packets;
	adapter->old_tx_bytes += qv->tx.stats.bytes;
	adapter->old_tx_dropped += qv->tx.stats.tx_dma_failed;
	adapter->old_rx_packets += qv->rx.stats.packets;
	adapter->old_rx_bytes += qv->rx.stats.bytes;
	adapter->old_rx_dropped += qv->rx.stats.alloc_failed +
				   qv->rx.stats.length_errors +
				   qv->rx.stats.hw_errors;
}

/*
 * Frees every queue pair; those never set up are zeroed and free as no-ops.
 * ndo_get_stats64 may run at any time without RTNL: it reads the array
 * under stats_lock, so the array goes away (and its counters move to the
 * adapter's totals) under that lock.
 */
static void vnic_free_q_vectors(struct vnic_adapter *adapter)
{
	struct vnic_q_vector *q_vectors = adapter->q_vectors;
	unsigned int i;

	if (!q_vectors)
		return;
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &q_vectors[i];

		vnic_clean_tx_ring(&qv->tx);
		vnic_free_ring_mem(&qv->tx);
		vnic_free_rx_ring(&qv->rx);
		netif_napi_del(&qv->napi);
	}
	spin_lock_bh(&adapter->stats_lock);
	for (i = 0; i < adapter->num_qp; i++)
		vnic_save_ring_stats(adapter, &q_vectors[i]);
	adapter->q_vectors = NULL;
	spin_unlock_bh(&adapter->stats_lock);
	kfree(q_vectors);
}

/**
 * vnic_alloc_q_vectors - queue pairs, their rings and NAPI contexts
 * @adapter: board private structure
 *
 * Return: 0 or a negative errno (nothing is left allocated then).
 */
static int vnic_alloc_q_vectors(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	struct device *dev = &adapter->pdev->dev;
	struct vnic_q_vector *q_vectors;
	unsigned int i;
	int err;

	q_vectors = kcalloc(adapter->num_qp, sizeof(*q_vectors), GFP_KERNEL);
	if (!q_vectors)
		return -ENOMEM;
	spin_lock_bh(&adapter->stats_lock);
	adapter->q_vectors = q_vectors;
	spin_unlock_bh(&adapter->stats_lock);

	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &q_vectors[i];
		bool msix = adapter->irq_mode == VNIC_IRQ_MSIX;

		qv->adapter = adapter;
		qv->v_idx = msix ? i + 1 : 0;
		qv->eims = BIT(qv->v_idx);
		qv->irq = pci_irq_vector(adapter->pdev, msix ? qv->v_idx : 0);
		qv->tx.netdev = netdev;
		qv->tx.dev = dev;
		qv->tx.queue_index = i;
		qv->tx.count = adapter->tx_ring_count;
		qv->rx.netdev = netdev;
		qv->rx.dev = dev;
		qv->rx.queue_index = i;
		qv->rx.count = adapter->rx_ring_count;
		netif_napi_add(netdev, &qv->napi, vnic_poll);

		err = vnic_alloc_ring_mem(&qv->tx,
					  sizeof(struct vnic_tx_buffer));
		if (err)
			goto err_free;
		err = vnic_setup_rx_ring(&qv->rx);
		if (err)
			goto err_free;
	}
	return 0;

err_free:
	vnic_free_q_vectors(adapter);
	netdev_err(netdev, "cannot allocate queue pair %u\n", i);
	return err;
}

/* ------------------------------------------------------------------------
 * Up and down
 * ------------------------------------------------------------------------
 */

/**
 * vnic_up - reset the device and bring the queues up, spec 5.1-5.10
 * @adapter: board private structure
 *
 * Called with RTNL held; the rings must be allocated.
 *
 * Return: 0 or a negative errno.
 */
static int vnic_up(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	unsigned int i;
	int err;

	vnic_update_hw_stats(adapter);	/* the reset clears them */
	err = vnic_hw_reset(adapter);
	if (err)
		return err;
	vnic_hw_init_link(adapter);
	vnic_write_rar(adapter, 0, netdev->dev_addr);

	err = vnic_configure_rx(adapter);
	if (err)
		goto err_reset;
	err = vnic_configure_tx(adapter);
	if (err)
		goto err_reset;
	/* 5.8: hand count - 1 buffers to each RX queue */
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_ring *rx = &adapter->q_vectors[i].rx;

		if (!vnic_alloc_rx_buffers(rx, vnic_desc_unused(rx)))
			netdev_warn(netdev, "RX queue %u only partly filled\n",
				    i);
	}
	vnic_configure_irq(adapter);

	clear_bit(__VNIC_DOWN, &adapter->state);
	for (i = 0; i < adapter->num_qp; i++)
		napi_enable(&adapter->q_vectors[i].napi);
	vnic_irq_enable(adapter);

	netif_tx_start_all_queues(netdev);
	vnic_check_link(adapter);
	schedule_delayed_work(&adapter->watchdog_task, VNIC_WATCHDOG_PERIOD);
	return 0;

err_reset:
	/* some queues may be live: stop all DMA into rings about to be freed */
	vnic_hw_reset(adapter);
	return err;
}

/**
 * vnic_down - stop the device's queues and interrupts, drop pending work
 * @adapter: board private structure
 *
 * Called with RTNL held.  The rings stay allocated (vnic_free_q_vectors).
 */
static void vnic_down(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	unsigned int i;

	if (test_and_set_bit(__VNIC_DOWN, &adapter->state))
		return;
	netif_carrier_off(netdev);
	netif_tx_disable(netdev);

	if (!test_bit(__VNIC_REMOVING, &adapter->state)) {
		vnic_wr32(adapter, VNIC_RXCTRL, 0);
		for (i = 0; i < adapter->num_qp; i++) {
			vnic_wr32(adapter, VNIC_RXDCTL(i), 0);
			vnic_wr32(adapter, VNIC_TXDCTL(i), 0);
		}
	}
	vnic_irq_disable(adapter);
	for (i = 0; i < adapter->num_qp; i++)
		napi_disable(&adapter->q_vectors[i].napi);

	for (i = 0; i < adapter->num_qp; i++) {
		vnic_clean_tx_ring(&adapter->q_vectors[i].tx);
		vnic_clean_rx_ring(&adapter->q_vectors[i].rx);
	}
}

/* allocate and start everything: ndo_open and reconfiguration */
static int vnic_open_resources(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	int err;

	netif_carrier_off(netdev);
	err = vnic_alloc_q_vectors(adapter);
	if (err)
		return err;
	err = netif_set_real_num_tx_queues(netdev, adapter->num_qp);
	if (err)
		goto err_free;
	err = netif_set_real_num_rx_queues(netdev, adapter->num_qp);
	if (err)
		goto err_free;
	err = vnic_request_irqs(adapter);
	if (err)
		goto err_free;
	err = vnic_up(adapter);
	if (err)
		goto err_irqs;
	return 0;

err_irqs:
	vnic_down(adapter);
	vnic_free_irqs(adapter);
err_free:
	vnic_free_q_vectors(adapter);
	return err;
}

static void vnic_close_resources(struct vnic_adapter *adapter)
{
	vnic_down(adapter);
	vnic_free_irqs(adapter);
	vnic_free_q_vectors(adapter);
}

static int vnic_open(struct net_device *netdev)
{
	return vnic_open_resources(netdev_priv(netdev));
}

static int vnic_close(struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	cancel_delayed_work_sync(&adapter->watchdog_task);
	vnic_close_resources(adapter);
	return 0;
}

/**
 * vnic_reinit - change queue pairs or ring sizes, restarting if running
 * @adapter: board private structure
 * @num_qp: queue pairs
 * @txd: TX descriptors per ring
 * @rxd: RX descriptors per ring
 *
 * Called with RTNL held.  If the new setting cannot be brought up, the old
 * one is tried again.
 *
 * Return: 0 or a negative errno.
 */
int vnic_reinit(struct vnic_adapter *adapter, unsigned int num_qp,
		unsigned int txd, unsigned int rxd)
{
	unsigned int old_qp = adapter->num_qp;
	unsigned int old_txd = adapter->tx_ring_count;
	unsigned int old_rxd = adapter->rx_ring_count;
	bool running = netif_running(adapter->netdev);
	int err;

	if (running) {
		cancel_delayed_work_sync(&adapter->watchdog_task);
		vnic_close_resources(adapter);
	}
	adapter->num_qp = num_qp;
	adapter->tx_ring_count = txd;
	adapter->rx_ring_count = rxd;
	if (!running)
		return 0;
	err = vnic_open_resources(adapter);
	if (!err)
		return 0;
	netdev_err(adapter->netdev, "reconfiguration failed (%d), reverting\n",
		   err);
	adapter->num_qp = old_qp;
	adapter->tx_ring_count = old_txd;
	adapter->rx_ring_count = old_rxd;
	if (vnic_open_resources(adapter))
		dev_close(adapter->netdev);
	return err;
}

static void vnic_reset_task(struct work_struct *work)
{
	struct vnic_adapter *adapter =
		container_of(work, struct vnic_adapter, reset_task);

	rtnl_lock();
	if (netif_running(adapter->netdev) &&
	    !test_bit(__VNIC_REMOVING, &adapter->state)) {
		netdev_warn(adapter->netdev, "reinitialising the device\n");
		set_bit(__VNIC_RESETTING, &adapter->state);
		vnic_reinit(adapter, adapter->num_qp, adapter->tx_ring_count,
			    adapter->rx_ring_count);
		clear_bit(__VNIC_RESETTING, &adapter->state);
	}
	rtnl_unlock();
}

/**
 * vnic_watchdog_task - link, drop counters and a device reset from outside
 * @work: the delayed work
 *
 * Every two seconds, a handful of register reads: LINKS (in case an LSC
 * interrupt was lost), the drop statistics, and RXCTRL.  RXEN reads 0 only
 * if the device was reset behind our back (the lab can do that): then we
 * reinitialise it.
 */
static void vnic_watchdog_task(struct work_struct *work)
{
	struct vnic_adapter *adapter = container_of(to_delayed_work(work),
						    struct vnic_adapter,
						    watchdog_task);
	unsigned int i;

	if (test_bit(__VNIC_DOWN, &adapter->state))
		return;
	if (!(vnic_rd32(adapter, VNIC_RXCTRL) & VNIC_RXCTRL_RXEN)) {
		netdev_warn(adapter->netdev, "device was reset\n");
		schedule_work(&adapter->reset_task);
		return;
	}
	vnic_check_link(adapter);
	vnic_update_drop_stats(adapter);

	/* an RX ring left without buffers (pages ran out) gets no interrupt */
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		if (vnic_desc_unused(&qv->rx) >= qv->rx.count - 1) {
			local_bh_disable();
			napi_schedule(&qv->napi);
			local_bh_enable();
		}
	}
	schedule_delayed_work(&adapter->watchdog_task, VNIC_WATCHDOG_PERIOD);
}

static void vnic_tx_timeout(struct net_device *netdev, unsigned int txqueue)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	netdev_warn(netdev, "TX queue %u timed out\n", txqueue);
	schedule_work(&adapter->reset_task);
}

static void vnic_get_stats64(struct net_device *netdev,
			     struct rtnl_link_stats64 *stats)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	struct vnic_hw_stats *hw = &adapter->hw_stats;
	unsigned int i, start;

	stats->rx_packets = adapter->old_rx_packets;
	stats->rx_bytes = adapter->old_rx_bytes;
	stats->tx_packets = adapter->old_tx_packets;
	stats->tx_bytes = adapter->old_tx_bytes;
	stats->rx_dropped = adapter->old_rx_dropped;
	stats->tx_dropped = adapter->old_tx_dropped;

	spin_lock_bh(&adapter->stats_lock);
	for (i = 0; adapter->q_vectors && i < adapter->num_qp; i++) {
		struct vnic_ring *tx = &adapter->q_vectors[i].tx;
		struct vnic_ring *rx = &adapter->q_vectors[i].rx;
		u64 p, b, d, l;

		do {
			start = u64_stats_fetch_begin(&tx->stats.syncp);
			p = tx->stats.packets;
			b = tx->stats.bytes;
			d = tx->stats.tx_dma_failed;
		} while (u64_stats_fetch_retry(&tx->stats.syncp, start));
		stats->tx_packets += p;
		stats->tx_bytes += b;
		stats->tx_dropped += d;
		do {
			start = u64_stats_fetch_begin(&rx->stats.syncp);
			p = rx->stats.packets;
			b = rx->stats.bytes;
			d = rx->stats.alloc_failed + rx->stats.hw_errors;
			l = rx->stats.length_errors;
		} while (u64_stats_fetch_retry(&rx->stats.syncp, start));
		stats->rx_packets += p;
		stats->rx_bytes += b;
		stats->rx_dropped += d + l;
		stats->rx_length_errors += l;
	}
	stats->rx_missed_errors = hw->mpc;
	stats->rx_length_errors += hw->rlec;
	stats->multicast = hw->mprc;
	spin_unlock_bh(&adapter->stats_lock);
	stats->rx_errors = stats->rx_length_errors;
}

static const struct net_device_ops vnic_netdev_ops = {
	.ndo_open		= vnic_open,
	.ndo_stop		= vnic_close,
	.ndo_start_xmit		= vnic_xmit_frame,
	.ndo_select_queue	= vnic_select_queue,
	.ndo_set_rx_mode	= vnic_set_rx_mode,
	.ndo_set_mac_address	= vnic_set_mac,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_tx_timeout		= vnic_tx_timeout,
	.ndo_get_stats64	= vnic_get_stats64,
};

/* ------------------------------------------------------------------------
 * PCI probe and remove
 * ------------------------------------------------------------------------
 */

static void vnic_read_mac(struct vnic_adapter *adapter)
{
	struct net_device *netdev = adapter->netdev;
	u32 ral = vnic_rd32(adapter, VNIC_RAL(0));
	u32 rah = vnic_rd32(adapter, VNIC_RAH(0));
	u8 addr[ETH_ALEN];

	addr[0] = ral;
	addr[1] = ral >> 8;
	addr[2] = ral >> 16;
	addr[3] = ral >> 24;
	addr[4] = rah;
	addr[5] = rah >> 8;
	if ((rah & VNIC_RAH_AV) && is_valid_ether_addr(addr)) {
		eth_hw_addr_set(netdev, addr);
		return;
	}
	eth_hw_addr_random(netdev);
	netdev_warn(netdev, "no valid MAC in RAL/RAH(0), using %pM\n",
		    netdev->dev_addr);
}

/**
 * vnic_probe - bind to one vNIC function
 * @pdev: PCI device
 * @ent: matching table entry
 *
 * Return: 0 or a negative errno.
 */
static int vnic_probe(struct pci_dev *pdev, const struct pci_device_id *ent)
{
	struct vnic_adapter *adapter;
	struct net_device *netdev;
	int err;

	err = pci_enable_device_mem(pdev);
	if (err)
		return err;
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err) {
		dev_err(&pdev->dev, "no usable DMA configuration\n");
		goto err_disable;
	}
	err = pci_request_mem_regions(pdev, VNIC_DRV_NAME);
	if (err)
		goto err_disable;
	pci_set_master(pdev);

	netdev = alloc_etherdev_mq(sizeof(*adapter), VNIC_NUM_QUEUES);
	if (!netdev) {
		err = -ENOMEM;
		goto err_release;
	}
	SET_NETDEV_DEV(netdev, &pdev->dev);
	pci_set_drvdata(pdev, netdev);
	adapter = netdev_priv(netdev);
	adapter->netdev = netdev;
	adapter->pdev = pdev;
	spin_lock_init(&adapter->stats_lock);
	INIT_WORK(&adapter->reset_task, vnic_reset_task);
	INIT_WORK(&adapter->link_task, vnic_link_task);
	INIT_DELAYED_WORK(&adapter->watchdog_task, vnic_watchdog_task);
	set_bit(__VNIC_DOWN, &adapter->state);

	if (pci_resource_len(pdev, 0) < VNIC_BAR0_SIZE) {
		dev_err(&pdev->dev, "BAR0 is too small\n");
		err = -ENODEV;
		goto err_free_netdev;
	}
	adapter->hw_addr = pci_iomap(pdev, 0, VNIC_BAR0_SIZE);
	if (!adapter->hw_addr) {
		err = -EIO;
		goto err_free_netdev;
	}

	err = vnic_hw_reset(adapter);
	if (err)
		goto err_unmap;
	vnic_read_mac(adapter);
	adapter->has_lab_block =
		vnic_rd32(adapter, VNIC_LAB_ID) == VNIC_LAB_ID_MAGIC;
	if (adapter->has_lab_block)
		adapter->lab_ncounters = min_t(u32, VNIC_LAB_NUM_COUNTERS,
					       vnic_rd32(adapter,
							 VNIC_LAB_NCOUNTERS));

	err = vnic_alloc_irq_vectors(adapter);
	if (err)
		goto err_unmap;
	adapter->num_qp = clamp(queues, 1u, adapter->max_qp);
	adapter->tx_ring_count = VNIC_DEFAULT_TXD;
	adapter->rx_ring_count = VNIC_DEFAULT_RXD;
	adapter->itr_usecs = VNIC_DEFAULT_ITR_USECS;

	netdev->netdev_ops = &vnic_netdev_ops;
	vnic_set_ethtool_ops(netdev);
	netdev->watchdog_timeo = 5 * HZ;
	netdev->features = NETIF_F_SG | NETIF_F_HIGHDMA;
	netdev->hw_features = NETIF_F_SG;
	netdev->priv_flags |= IFF_UNICAST_FLT;
	netdev->min_mtu = ETH_MIN_MTU;
	netdev->max_mtu = ETH_DATA_LEN;

	strscpy(netdev->name, "eth%d", sizeof(netdev->name));
	err = register_netdev(netdev);
	if (err)
		goto err_irq;
	netif_carrier_off(netdev);

	netdev_info(netdev, "vNIC %pM, %s, %u of %u queue pairs%s\n",
		    netdev->dev_addr,
		    adapter->irq_mode == VNIC_IRQ_MSIX ? "MSI-X" :
		    adapter->irq_mode == VNIC_IRQ_MSI ? "MSI" : "INTx",
		    adapter->num_qp, adapter->max_qp,
		    adapter->has_lab_block ? ", lab counters" : "");
	return 0;

err_irq:
	pci_free_irq_vectors(pdev);
err_unmap:
	pci_iounmap(pdev, adapter->hw_addr);
err_free_netdev:
	free_netdev(netdev);
err_release:
	pci_release_mem_regions(pdev);
err_disable:
	pci_disable_device(pdev);
	return err;
}

static void vnic_remove(struct pci_dev *pdev)
{
	struct net_device *netdev = pci_get_drvdata(pdev);
	struct vnic_adapter *adapter = netdev_priv(netdev);

	unregister_netdev(netdev);	/* closes it */
	set_bit(__VNIC_REMOVING, &adapter->state);
	cancel_work_sync(&adapter->reset_task);
	cancel_work_sync(&adapter->link_task);
	cancel_delayed_work_sync(&adapter->watchdog_task);

	/* leave the device quiet: no DMA, no interrupts */
	vnic_wr32(adapter, VNIC_EIMC, ~0u);
	vnic_wr32(adapter, VNIC_CTRL, VNIC_CTRL_RST | VNIC_CTRL_LNK_RST);

	pci_free_irq_vectors(pdev);
	pci_iounmap(pdev, adapter->hw_addr);
	free_netdev(netdev);
	pci_release_mem_regions(pdev);
	pci_disable_device(pdev);
}

static void vnic_shutdown(struct pci_dev *pdev)
{
	struct net_device *netdev = pci_get_drvdata(pdev);

	rtnl_lock();
	netif_device_detach(netdev);
	if (netif_running(netdev))
		vnic_close(netdev);
	rtnl_unlock();
	pci_disable_device(pdev);
}

static struct pci_driver vnic_driver = {
	.name		= VNIC_DRV_NAME,
	.id_table	= vnic_pci_tbl,
	.probe		= vnic_probe,
	.remove		= vnic_remove,
	.shutdown	= vnic_shutdown,
};
module_pci_driver(vnic_driver);

MODULE_AUTHOR("ringlab");
MODULE_DESCRIPTION("ringlab teaching vNIC (ixgbe-like) driver");
MODULE_LICENSE("GPL");
