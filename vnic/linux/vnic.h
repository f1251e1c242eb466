/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vnic.h - private structures of the ringlab vNIC driver
 *
 * The device is the Python model in vnic/model; its programming model is
 * the ixgbe subset of /work/shared/specs/ixgbe-subset.md ("spec" below).
 *
 * Ring words (the same in the docs and the netmap code):
 *
 *   software owns          hardware owns                software owns
 *   ----------------+---------------------------------+----------------
 *              next_to_clean ... head(RDH/TDH)      next_to_use = tail
 *
 * next_to_use is where software writes the next descriptor; the tail
 * register is set to it (the doorbell).  next_to_clean is the oldest
 * descriptor software has not reclaimed.  One slot always stays empty,
 * so at most count - 1 descriptors are ever handed to hardware (spec 4.1).
 */
#ifndef _VNIC_H_
#define _VNIC_H_

#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/u64_stats_sync.h>
#include <linux/workqueue.h>

#include "vnic_regs.h"

struct nm_port;

#define VNIC_DRV_NAME		"vnic"

#define VNIC_DEFAULT_QUEUES	2
#define VNIC_DEFAULT_TXD	512
#define VNIC_DEFAULT_RXD	512
#define VNIC_MIN_DESC		64
#define VNIC_MAX_DESC		4096
/* RDLEN/TDLEN are multiples of 128 bytes: descriptor counts of 8 */
#define VNIC_DESC_MULTIPLE	(VNIC_RING_ALIGN / VNIC_DESC_SIZE)

/* RX buffers: one page each, the frame at VNIC_RX_HEADROOM, 2 KiB for DMA */
#define VNIC_RX_BUFSZ		2048
#define VNIC_RX_HEADROOM	(NET_SKB_PAD + NET_IP_ALIGN)
#define VNIC_RX_REFILL_BATCH	16
/* frames up to this size are copied into a small skb */
#define VNIC_RX_COPYBREAK	256
/* header-split RX (StackMap's pages): the head an skb's headers are copied to */
#define VNIC_RX_HDR_MAX		256

/* EITR default: 20 us between interrupts of one vector, ~50k irq/s max */
#define VNIC_DEFAULT_ITR_USECS	20
/* the ITR_INTERVAL field counts 2 us units in bits 11:3 (spec 4.4) */
#define VNIC_MAX_ITR_USECS	(VNIC_EITR_ITR_INTERVAL >> 2)

/* a packet needs at most one descriptor per fragment plus the head */
/* one context descriptor, the head, the frags */
#define VNIC_TX_DESC_NEEDED	(MAX_SKB_FRAGS + 2)
#define VNIC_TX_WAKE_THRESHOLD	(VNIC_TX_DESC_NEEDED * 2)

/* MSI-X: vector 0 serves link and other causes, vector q + 1 queue pair q */
#define VNIC_MISC_VECTOR	0
#define VNIC_WATCHDOG_PERIOD	(2 * HZ)

enum vnic_irq_mode {
	VNIC_IRQ_MSIX,
	VNIC_IRQ_MSI,
	VNIC_IRQ_INTX,
};

enum vnic_state {
	__VNIC_DOWN,		/* rings and interrupts are not set up */
	__VNIC_RESETTING,	/* a reinitialisation is in progress */
	__VNIC_REMOVING,
};

struct vnic_tx_buffer {
	struct sk_buff *skb;		/* on the first slot of a packet */
	union vnic_adv_tx_desc *next_to_watch;	/* its EOP descriptor */
	dma_addr_t dma;
	u32 len;
	u32 bytecount;
	bool mapped_as_page;
};

/*
 * An RX descriptor's page: the ring's page pool's, or (@netmap) one of
 * StackMap's receive pool, mapped by us; the frame goes at @offset.
 */
struct vnic_rx_buffer {
	struct page *page;
	dma_addr_t dma;
	u16 offset;
	bool netmap;
};

struct vnic_ring_stats {
	u64 packets;
	u64 bytes;
	/* TX */
	u64 restart_queue;
	u64 tx_busy;
	u64 tx_dma_failed;
	u64 csum_offload;	/* frames the device checksums (context + TXSM) */
	u64 netmap_frags;	/* TX and RX: frags in netmap buffers (StackMap) */
	/* RX */
	u64 alloc_failed;
	u64 length_errors;	/* no EOP or a length the buffer cannot hold */
	u64 hw_errors;		/* write-back with an error bit */
	u64 refills;		/* RX tail writes */
	u64 csum_good;		/* the device checked the checksums: good */
	u64 csum_errors;	/* it found one wrong (the stack checks again) */
	struct u64_stats_sync syncp;
};

/**
 * struct vnic_ring - one TX or RX descriptor ring
 * @desc: descriptor memory (coherent DMA)
 * @dma: its bus address, programmed in xDBAL/xDBAH
 * @size: its length in bytes, programmed in xDLEN
 * @count: number of descriptors (a multiple of 8, at most VNIC_MAX_DESC)
 * @next_to_use: next slot software fills; the tail register follows it
 * @next_to_clean: oldest slot software has not reclaimed
 * @tail: the mapped tail register (the doorbell)
 * @queue_index: queue number, as in the register names
 * @tx_buffer_info: per-slot software state of a TX ring
 * @rx_buffer_info: per-slot software state of an RX ring
 * @page_pool: buffer pool of an RX ring
 * @discarding: an RX frame without EOP is being thrown away
 * @head_wb: TX, netmap mode: where the device writes its head back (TDWBAL)
 * @head_wb_dma: its bus address
 */
struct vnic_ring {
	void *desc;
	dma_addr_t dma;
	unsigned int size;
	u16 count;
	u16 next_to_use;
	u16 next_to_clean;
	u8 __iomem *tail;
	u16 queue_index;
	struct net_device *netdev;
	struct device *dev;
	union {
		struct vnic_tx_buffer *tx_buffer_info;
		struct vnic_rx_buffer *rx_buffer_info;
	};
	struct page_pool *page_pool;
	bool discarding;
	__le32 *head_wb;
	dma_addr_t head_wb_dma;
	struct vnic_ring_stats stats;
};

/**
 * struct vnic_q_vector - one interrupt vector and the queue pair it serves
 * @adapter: back pointer
 * @napi: polls the TX ring, then the RX ring
 * @v_idx: MSI-X vector number (EICR/EIMS bit in MSI-X mode)
 * @eims: the EIMS bit that unmasks this vector
 * @irq: Linux IRQ number
 * @tx: the queue pair's TX ring
 * @rx: the queue pair's RX ring
 */
struct vnic_q_vector {
	struct vnic_adapter *adapter;
	struct napi_struct napi;
	u16 v_idx;
	u32 eims;
	int irq;
	struct vnic_ring tx;
	struct vnic_ring rx;
	char name[IFNAMSIZ + 16];
};

/* statistics registers accumulated by the driver (they clear on read) */
struct vnic_hw_stats {
	u64 gprc, gptc, gorc, gotc, bprc, mprc, bptc, mptc, tpr, tpt;
	u64 mpc, ruc, roc, rlec;
};

struct vnic_adapter {
	struct net_device *netdev;
	struct pci_dev *pdev;
	u8 __iomem *hw_addr;
	unsigned long state;

	enum vnic_irq_mode irq_mode;
	unsigned int num_irqs;
	unsigned int max_qp;		/* what the interrupt vectors allow */
	unsigned int num_qp;		/* active queue pairs */
	unsigned int tx_ring_count;
	unsigned int rx_ring_count;
	unsigned int itr_usecs;
	struct vnic_q_vector *q_vectors;	/* num_qp of them while up */
	bool misc_irq_requested;

	bool has_lab_block;
	u32 lab_ncounters;

	/*
	 * netmap: the port programs open (NULL if attaching failed), and
	 * whether netmap.ko has it (reg on): vnic_up then puts netmap's
	 * buffers in the rings.  vnic_set_config says when it may change.
	 */
	struct nm_port *nm_port;
	bool netmap;
	/* StackMap's: outside netmap mode, receive into its pages (stack_rx) */
	struct nm_rx_pool *rx_pool;

	struct work_struct reset_task;
	struct work_struct link_task;
	struct delayed_work watchdog_task;

	spinlock_t stats_lock;		/* hw_stats and the register reads */
	struct vnic_hw_stats hw_stats;
	u64 resets;
	u64 link_changes;
	/* counters of rings that no longer exist (after -L or -G) */
	u64 old_rx_packets, old_rx_bytes, old_tx_packets, old_tx_bytes;
	u64 old_rx_dropped, old_tx_dropped;
};

static inline u32 vnic_rd32(struct vnic_adapter *adapter, u32 reg)
{
	return readl(adapter->hw_addr + reg);
}

static inline void vnic_wr32(struct vnic_adapter *adapter, u32 reg, u32 val)
{
	writel(val, adapter->hw_addr + reg);
}

/* free slots software may still fill, keeping the one-slot gap (spec 4.1) */
static inline u16 vnic_desc_unused(const struct vnic_ring *ring)
{
	u16 ntc = READ_ONCE(ring->next_to_clean);
	u16 ntu = READ_ONCE(ring->next_to_use);

	return ((ntc > ntu) ? 0 : ring->count) + ntc - ntu - 1;
}

#define VNIC_TX_DESC(r, i)	(&((union vnic_adv_tx_desc *)((r)->desc))[i])
#define VNIC_RX_DESC(r, i)	(&((union vnic_adv_rx_desc *)((r)->desc))[i])

/* vnic_main.c */
int vnic_reinit(struct vnic_adapter *adapter, unsigned int num_qp,
		unsigned int txd, unsigned int rxd, bool netmap);

/* vnic_hw.c */
int vnic_hw_reset(struct vnic_adapter *adapter);
int vnic_hw_init(struct vnic_adapter *adapter);
void vnic_update_hw_stats(struct vnic_adapter *adapter);
void vnic_update_drop_stats(struct vnic_adapter *adapter);
void vnic_write_rar(struct vnic_adapter *adapter, unsigned int i,
		    const u8 *addr);
void vnic_set_rx_mode(struct net_device *netdev);
void vnic_configure_rx_csum(struct vnic_adapter *adapter,
			    netdev_features_t features);
void vnic_set_itr(struct vnic_adapter *adapter, unsigned int usecs);
void vnic_configure_irq(struct vnic_adapter *adapter);
void vnic_irq_enable(struct vnic_adapter *adapter);
void vnic_irq_disable(struct vnic_adapter *adapter);
void vnic_check_link(struct vnic_adapter *adapter);

/* vnic_txrx.c */
netdev_tx_t vnic_xmit_frame(struct sk_buff *skb, struct net_device *netdev);
u16 vnic_select_queue(struct net_device *netdev, struct sk_buff *skb,
		      struct net_device *sb_dev);
bool vnic_alloc_rx_buffers(struct vnic_ring *ring, u16 n);
void vnic_clean_tx_ring(struct vnic_ring *ring);
void vnic_clean_rx_ring(struct vnic_ring *ring);
int vnic_request_irqs(struct vnic_adapter *adapter);
void vnic_free_irqs(struct vnic_adapter *adapter);
int vnic_alloc_q_vectors(struct vnic_adapter *adapter);
void vnic_free_q_vectors(struct vnic_adapter *adapter);

int vnic_restart_rx_rings(struct vnic_adapter *adapter);

/* vnic_netmap.c */
void vnic_netmap_attach(struct vnic_adapter *adapter);
void vnic_netmap_detach(struct vnic_adapter *adapter);
void vnic_netmap_set_rings(struct vnic_adapter *adapter);
void vnic_netmap_setup_rings(struct vnic_adapter *adapter);
void vnic_netmap_stop_syncs(struct vnic_adapter *adapter);
void vnic_netmap_start_syncs(struct vnic_adapter *adapter);

/* vnic_ethtool.c */
void vnic_set_ethtool_ops(struct net_device *netdev);

#endif /* _VNIC_H_ */
