// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_ethtool.c - ethtool operations of the ringlab vNIC driver
 *
 * -S shows three groups: per-queue driver counters, the device's
 * statistics registers (accumulated, they clear on read) and the lab
 * counters of the model (LABC_LO/HI, monotonic), read live from BAR0.
 */

#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/pci.h>

#include "vnic.h"

struct vnic_stat {
	char name[ETH_GSTRING_LEN];
	size_t offset;
};

#define VNIC_HW_STAT(n) { #n, offsetof(struct vnic_hw_stats, n) }
static const struct vnic_stat vnic_hw_stat_names[] = {
	VNIC_HW_STAT(gprc), VNIC_HW_STAT(gptc), VNIC_HW_STAT(gorc),
	VNIC_HW_STAT(gotc), VNIC_HW_STAT(bprc), VNIC_HW_STAT(mprc),
	VNIC_HW_STAT(bptc), VNIC_HW_STAT(mptc), VNIC_HW_STAT(tpr),
	VNIC_HW_STAT(tpt), VNIC_HW_STAT(mpc), VNIC_HW_STAT(ruc),
	VNIC_HW_STAT(roc), VNIC_HW_STAT(rlec),
};
#define VNIC_HW_STATS_LEN	ARRAY_SIZE(vnic_hw_stat_names)

#define VNIC_LAB_NAME(i, n) "lab_" #n,
static const char * const vnic_lab_names[] = {
	VNIC_LAB_COUNTERS(VNIC_LAB_NAME)
};

static const char * const vnic_tx_q_names[] = {
	"packets", "bytes", "restart_queue", "busy", "dma_failed",
	"csum_offload", "netmap_frags",
};

static const char * const vnic_rx_q_names[] = {
	"packets", "bytes", "alloc_failed", "length_errors", "hw_errors",
	"refills", "csum_good", "csum_errors", "netmap_frags",
};

static const char * const vnic_global_names[] = {
	"resets", "link_changes",
};

#define VNIC_TX_Q_LEN	ARRAY_SIZE(vnic_tx_q_names)
#define VNIC_RX_Q_LEN	ARRAY_SIZE(vnic_rx_q_names)

static unsigned int vnic_lab_count(struct vnic_adapter *adapter)
{
	return adapter->has_lab_block ? adapter->lab_ncounters : 0;
}

static int vnic_get_sset_count(struct net_device *netdev, int sset)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return ARRAY_SIZE(vnic_global_names) +
	       adapter->num_qp * (VNIC_TX_Q_LEN + VNIC_RX_Q_LEN) +
	       VNIC_HW_STATS_LEN + vnic_lab_count(adapter);
}

static void vnic_get_strings(struct net_device *netdev, u32 sset, u8 *data)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	unsigned int q, i;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < ARRAY_SIZE(vnic_global_names); i++)
		ethtool_puts(&data, vnic_global_names[i]);
	for (q = 0; q < adapter->num_qp; q++) {
		for (i = 0; i < VNIC_TX_Q_LEN; i++)
			ethtool_sprintf(&data, "tx_queue_%u_%s", q,
					vnic_tx_q_names[i]);
		for (i = 0; i < VNIC_RX_Q_LEN; i++)
			ethtool_sprintf(&data, "rx_queue_%u_%s", q,
					vnic_rx_q_names[i]);
	}
	for (i = 0; i < VNIC_HW_STATS_LEN; i++)
		ethtool_sprintf(&data, "hw_%s", vnic_hw_stat_names[i].name);
	for (i = 0; i < vnic_lab_count(adapter); i++)
		ethtool_puts(&data, vnic_lab_names[i]);
}

static void vnic_get_ethtool_stats(struct net_device *netdev,
				   struct ethtool_stats *stats, u64 *data)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	unsigned int q, i, start;

	*data++ = adapter->resets;
	*data++ = adapter->link_changes;
	for (q = 0; q < adapter->num_qp; q++) {
		struct vnic_ring *tx, *rx;

		if (!adapter->q_vectors) {
			memset(data, 0,
			       (VNIC_TX_Q_LEN + VNIC_RX_Q_LEN) * sizeof(*data));
			data += VNIC_TX_Q_LEN + VNIC_RX_Q_LEN;
			continue;
		}
		tx = &adapter->q_vectors[q].tx;
		rx = &adapter->q_vectors[q].rx;
		do {
			start = u64_stats_fetch_begin(&tx->stats.syncp);
			data[0] = tx->stats.packets;
			data[1] = tx->stats.bytes;
			data[2] = tx->stats.restart_queue;
			data[3] = tx->stats.tx_busy;
			data[4] = tx->stats.tx_dma_failed;
			data[5] = tx->stats.csum_offload;
			data[6] = tx->stats.netmap_frags;
		} while (u64_stats_fetch_retry(&tx->stats.syncp, start));
		data += VNIC_TX_Q_LEN;
		do {
			start = u64_stats_fetch_begin(&rx->stats.syncp);
			data[0] = rx->stats.packets;
			data[1] = rx->stats.bytes;
			data[2] = rx->stats.alloc_failed;
			data[3] = rx->stats.length_errors;
			data[4] = rx->stats.hw_errors;
			data[5] = rx->stats.refills;
			data[6] = rx->stats.csum_good;
			data[7] = rx->stats.csum_errors;
			data[8] = rx->stats.netmap_frags;
		} while (u64_stats_fetch_retry(&rx->stats.syncp, start));
		data += VNIC_RX_Q_LEN;
	}

	vnic_update_hw_stats(adapter);
	spin_lock_bh(&adapter->stats_lock);
	for (i = 0; i < VNIC_HW_STATS_LEN; i++)
		*data++ = *(u64 *)((u8 *)&adapter->hw_stats +
				   vnic_hw_stat_names[i].offset);
	spin_unlock_bh(&adapter->stats_lock);

	for (i = 0; i < vnic_lab_count(adapter); i++) {
		/* LO first: it latches HI */
		u64 lo = vnic_rd32(adapter, VNIC_LABC_LO(i));

		*data++ = lo | (u64)vnic_rd32(adapter, VNIC_LABC_HI(i)) << 32;
	}
}

static void vnic_get_drvinfo(struct net_device *netdev,
			     struct ethtool_drvinfo *info)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	strscpy(info->driver, VNIC_DRV_NAME, sizeof(info->driver));
	strscpy(info->bus_info, pci_name(adapter->pdev),
		sizeof(info->bus_info));
	if (adapter->has_lab_block) {
		u32 v = vnic_rd32(adapter, VNIC_LAB_VERSION);

		snprintf(info->fw_version, sizeof(info->fw_version),
			 "lab %lu.%lu",
			 (v & VNIC_LAB_VERSION_MAJOR) >>
			 VNIC_LAB_VERSION_MAJOR_SHIFT,
			 (v & VNIC_LAB_VERSION_MINOR) >>
			 VNIC_LAB_VERSION_MINOR_SHIFT);
	}
}

static void vnic_get_ringparam(struct net_device *netdev,
			       struct ethtool_ringparam *ring,
			       struct kernel_ethtool_ringparam *kring,
			       struct netlink_ext_ack *extack)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	ring->rx_max_pending = VNIC_MAX_DESC;
	ring->tx_max_pending = VNIC_MAX_DESC;
	ring->rx_pending = adapter->rx_ring_count;
	ring->tx_pending = adapter->tx_ring_count;
}

static int vnic_set_ringparam(struct net_device *netdev,
			      struct ethtool_ringparam *ring,
			      struct kernel_ethtool_ringparam *kring,
			      struct netlink_ext_ack *extack)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	unsigned int txd, rxd;

	if (ring->rx_mini_pending || ring->rx_jumbo_pending)
		return -EINVAL;
	if (ring->tx_pending < VNIC_MIN_DESC ||
	    ring->rx_pending < VNIC_MIN_DESC ||
	    ring->tx_pending > VNIC_MAX_DESC ||
	    ring->rx_pending > VNIC_MAX_DESC) {
		NL_SET_ERR_MSG_FMT_MOD(extack,
				       "ring sizes must be %u to %u",
				       VNIC_MIN_DESC, VNIC_MAX_DESC);
		return -EINVAL;
	}
	/* xDLEN is a multiple of 128 bytes: round to 8 descriptors */
	txd = ALIGN(ring->tx_pending, VNIC_DESC_MULTIPLE);
	rxd = ALIGN(ring->rx_pending, VNIC_DESC_MULTIPLE);
	if (txd == adapter->tx_ring_count && rxd == adapter->rx_ring_count)
		return 0;
	/* netmap's krings were sized for these rings */
	if (adapter->netmap) {
		NL_SET_ERR_MSG_MOD(extack, "a netmap program has the rings");
		return -EBUSY;
	}
	return vnic_reinit(adapter, adapter->num_qp, txd, rxd, false);
}

static void vnic_get_channels(struct net_device *netdev,
			      struct ethtool_channels *ch)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	bool msix = adapter->irq_mode == VNIC_IRQ_MSIX;

	ch->max_combined = adapter->max_qp;
	ch->combined_count = adapter->num_qp;
	ch->max_other = msix;
	ch->other_count = msix;
}

static int vnic_set_channels(struct net_device *netdev,
			     struct ethtool_channels *ch)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	if (ch->rx_count || ch->tx_count || !ch->combined_count ||
	    ch->combined_count > adapter->max_qp ||
	    ch->other_count != (adapter->irq_mode == VNIC_IRQ_MSIX))
		return -EINVAL;
	if (ch->combined_count == adapter->num_qp)
		return 0;
	/* netmap's krings were sized for these rings */
	if (adapter->netmap)
		return -EBUSY;
	return vnic_reinit(adapter, ch->combined_count, adapter->tx_ring_count,
			   adapter->rx_ring_count, false);
}

static int vnic_get_coalesce(struct net_device *netdev,
			     struct ethtool_coalesce *ec,
			     struct kernel_ethtool_coalesce *kec,
			     struct netlink_ext_ack *extack)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	ec->rx_coalesce_usecs = adapter->itr_usecs;
	return 0;
}

static int vnic_set_coalesce(struct net_device *netdev,
			     struct ethtool_coalesce *ec,
			     struct kernel_ethtool_coalesce *kec,
			     struct netlink_ext_ack *extack)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);

	/* a vector serves a queue pair: rx-usecs moderates both directions */
	if (ec->rx_coalesce_usecs > VNIC_MAX_ITR_USECS) {
		NL_SET_ERR_MSG_FMT_MOD(extack, "rx-usecs must be at most %lu",
				       VNIC_MAX_ITR_USECS);
		return -EINVAL;
	}
	vnic_set_itr(adapter, ec->rx_coalesce_usecs);
	return 0;
}

static int vnic_get_link_ksettings(struct net_device *netdev,
				   struct ethtool_link_ksettings *cmd)
{
	ethtool_link_ksettings_zero_link_mode(cmd, supported);
	ethtool_link_ksettings_zero_link_mode(cmd, advertising);
	cmd->base.port = PORT_OTHER;
	cmd->base.autoneg = AUTONEG_DISABLE;
	if (netif_carrier_ok(netdev)) {
		cmd->base.speed = SPEED_10000;
		cmd->base.duplex = DUPLEX_FULL;
	} else {
		cmd->base.speed = SPEED_UNKNOWN;
		cmd->base.duplex = DUPLEX_UNKNOWN;
	}
	return 0;
}

static const struct ethtool_ops vnic_ethtool_ops = {
	.supported_coalesce_params = ETHTOOL_COALESCE_RX_USECS,
	.get_drvinfo		= vnic_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_link_ksettings	= vnic_get_link_ksettings,
	.get_ringparam		= vnic_get_ringparam,
	.set_ringparam		= vnic_set_ringparam,
	.get_channels		= vnic_get_channels,
	.set_channels		= vnic_set_channels,
	.get_coalesce		= vnic_get_coalesce,
	.set_coalesce		= vnic_set_coalesce,
	.get_sset_count		= vnic_get_sset_count,
	.get_strings		= vnic_get_strings,
	.get_ethtool_stats	= vnic_get_ethtool_stats,
};

void vnic_set_ethtool_ops(struct net_device *netdev)
{
	netdev->ethtool_ops = &vnic_ethtool_ops;
}
