// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_main.c - ringlab vNIC driver: probe, up and down, reconfiguration
 *
 * The device is the ixgbe-like Python model of ringlab.  Section numbers in
 * comments ("spec 5.6") refer to specs/ixgbe-subset.md, the programming
 * model this driver follows.
 *
 * The driver's files, split by concern as in e1000e: this one is the PCI
 * and netdev glue (probe and remove, open and close, reconfiguration, the
 * watchdog, the netdev operations); vnic_hw.c programs the device's
 * registers; vnic_txrx.c is the data path (TX, RX, NAPI, ring memory);
 * vnic_netmap.c the native netmap adapter; vnic_ethtool.c the ethtool
 * operations.
 */

#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>

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
 * Work items and interrupt vectors
 * ------------------------------------------------------------------------
 */

static void vnic_link_task(struct work_struct *work)
{
	struct vnic_adapter *adapter =
		container_of(work, struct vnic_adapter, link_task);

	if (!test_bit(__VNIC_DOWN, &adapter->state))
		vnic_check_link(adapter);
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

	if (adapter->netmap)
		vnic_netmap_setup_rings(adapter);
	err = vnic_hw_init(adapter);
	if (err)
		return err;
	/*
	 * 5.8: hand count - 1 buffers to each RX queue (in netmap mode,
	 * those vnic_netmap_setup_rings armed)
	 */
	for (i = 0; i < adapter->num_qp; i++) {
		struct vnic_ring *rx = &adapter->q_vectors[i].rx;

		if (adapter->netmap)
			writel(rx->next_to_use, rx->tail);
		else if (!vnic_alloc_rx_buffers(rx, vnic_desc_unused(rx)))
			netdev_warn(netdev, "RX queue %u only partly filled\n",
				    i);
	}
	vnic_configure_irq(adapter);

	clear_bit(__VNIC_DOWN, &adapter->state);
	for (i = 0; i < adapter->num_qp; i++)
		napi_enable(&adapter->q_vectors[i].napi);
	vnic_irq_enable(adapter);
	/*
	 * Frames the device wrote before vnic_configure_irq routed their queue
	 * to a vector raised no interrupt (a link with flow control delivers
	 * a whole ring's worth the moment RDT moves): NAPI looks at every queue
	 * once.  Not in netmap mode: NAPI must not touch netmap's rings, and a
	 * program finds what its rings hold at its first sync.
	 */
	if (!adapter->netmap) {
		local_bh_disable();
		for (i = 0; i < adapter->num_qp; i++)
			napi_schedule(&adapter->q_vectors[i].napi);
		local_bh_enable();
	}

	netif_tx_start_all_queues(netdev);
	vnic_check_link(adapter);
	schedule_delayed_work(&adapter->watchdog_task, VNIC_WATCHDOG_PERIOD);
	return 0;
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

/*
 * ndo_open and ndo_stop, also while a netmap program has the rings: its
 * syncs wait until the rings exist again or are gone.
 */
static int vnic_open(struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	int err;

	vnic_netmap_stop_syncs(adapter);
	err = vnic_open_resources(adapter);
	vnic_netmap_start_syncs(adapter);
	return err;
}

static int vnic_close(struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	cancel_delayed_work_sync(&adapter->watchdog_task);
	/*
	 * A reconfiguration that failed twice closes the interface with
	 * nothing left to free (and possibly from netmap's reg, which
	 * already holds off the syncs).
	 */
	if (!adapter->q_vectors)
		return 0;
	vnic_netmap_stop_syncs(adapter);
	vnic_close_resources(adapter);
	vnic_netmap_start_syncs(adapter);
	return 0;
}

/*
 * What vnic_up sets the device up for: the ring geometry (which netmap
 * programs are told too) and whose buffers the rings carry.  Changed with
 * RTNL held and the interface down, so that xmit, the interrupt handlers
 * and the watchdog always see @netmap match the rings.
 */
static void vnic_set_config(struct vnic_adapter *adapter, unsigned int num_qp,
			    unsigned int txd, unsigned int rxd, bool netmap)
{
	adapter->num_qp = num_qp;
	adapter->tx_ring_count = txd;
	adapter->rx_ring_count = rxd;
	adapter->netmap = netmap;
	vnic_netmap_set_rings(adapter);
}

/**
 * vnic_reinit - change queue pairs, ring sizes or netmap mode
 * @adapter: board private structure
 * @num_qp: queue pairs
 * @txd: TX descriptors per ring
 * @rxd: RX descriptors per ring
 * @netmap: the rings carry netmap's buffers
 *
 * Called with RTNL held; restarts the interface if it is running.  If the
 * new setting cannot be brought up, the old one is tried again, but in
 * netmap mode only if both want it: netmap.ko has just let go of the port
 * or has not got it.  A netmap program's syncs must be held off by the
 * caller (netmap.ko does so around reg).
 *
 * Return: 0 or a negative errno.
 */
int vnic_reinit(struct vnic_adapter *adapter, unsigned int num_qp,
		unsigned int txd, unsigned int rxd, bool netmap)
{
	unsigned int old_qp = adapter->num_qp;
	unsigned int old_txd = adapter->tx_ring_count;
	unsigned int old_rxd = adapter->rx_ring_count;
	bool old_netmap = adapter->netmap;
	bool running = netif_running(adapter->netdev);
	int err;

	if (running) {
		cancel_delayed_work_sync(&adapter->watchdog_task);
		vnic_close_resources(adapter);
	}
	vnic_set_config(adapter, num_qp, txd, rxd, netmap);
	if (!running)
		return 0;
	err = vnic_open_resources(adapter);
	if (!err)
		return 0;
	netdev_err(adapter->netdev, "reconfiguration failed (%d), reverting\n",
		   err);
	vnic_set_config(adapter, old_qp, old_txd, old_rxd,
			old_netmap && netmap);
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
		/* netmap mode: the rings are rebuilt from the krings */
		vnic_netmap_stop_syncs(adapter);
		vnic_reinit(adapter, adapter->num_qp, adapter->tx_ring_count,
			    adapter->rx_ring_count, adapter->netmap);
		vnic_netmap_start_syncs(adapter);
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

	/*
	 * An RX ring left without buffers (pages ran out) gets no interrupt.
	 * netmap's rings are the program's to fill.
	 */
	for (i = 0; !adapter->netmap && i < adapter->num_qp; i++) {
		struct vnic_q_vector *qv = &adapter->q_vectors[i];

		if (vnic_desc_unused(&qv->rx) >= qv->rx.count - 1) {
			local_bh_disable();
			napi_schedule(&qv->napi);
			local_bh_enable();
		}
	}
	schedule_delayed_work(&adapter->watchdog_task, VNIC_WATCHDOG_PERIOD);
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

/* ethtool -K: only RX checksumming has a device register; TX is per frame */
static int vnic_set_features(struct net_device *netdev,
			     netdev_features_t features)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	if ((netdev->features ^ features) & NETIF_F_RXCSUM)
		vnic_configure_rx_csum(adapter, features);
	return 0;
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
	.ndo_set_features	= vnic_set_features,
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
	vnic_set_config(adapter, clamp(queues, 1u, adapter->max_qp),
			VNIC_DEFAULT_TXD, VNIC_DEFAULT_RXD, false);
	adapter->itr_usecs = VNIC_DEFAULT_ITR_USECS;

	netdev->netdev_ops = &vnic_netdev_ops;
	vnic_set_ethtool_ops(netdev);
	netdev->watchdog_timeo = 5 * HZ;
	/*
	 * The device inserts TCP/UDP checksums at any offset the driver gives
	 * (context descriptor + TXSM) and checks them on receive.  TX checksum
	 * offload is what keeps StackMap's zero-copy frags unshared: without
	 * it the stack copies them to checksum in software (spec 12).
	 */
	netdev->hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM;
	netdev->features = netdev->hw_features | NETIF_F_HIGHDMA;
	netdev->priv_flags |= IFF_UNICAST_FLT;
	netdev->min_mtu = ETH_MIN_MTU;
	netdev->max_mtu = ETH_DATA_LEN;

	strscpy(netdev->name, "eth%d", sizeof(netdev->name));
	err = register_netdev(netdev);
	if (err)
		goto err_irq;
	netif_carrier_off(netdev);
	vnic_netmap_attach(adapter);

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
	/*
	 * Only now: closing the interface stopped all DMA before netmap.ko
	 * unmaps its buffers, and nothing of ours (xmit, interrupts,
	 * ethtool, the reset task) can reach the port any more.
	 */
	vnic_netmap_detach(adapter);

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
