// SPDX-License-Identifier: GPL-2.0
/*
 * vnic_txrx.c - ringlab vNIC driver: the data path
 *
 * TX, RX, NAPI, the queue vectors' interrupts and ring memory.  Section
 * numbers ("spec 4.3") refer to specs/ixgbe-subset.md.
 *
 * Per-packet work touches only descriptor rings in memory and posted
 * register writes (tail doorbells, EIMS).  A register read traps to the
 * device model (~12 us), so none happens on the packet path: TX completions
 * come from DD write-back, interrupts are auto-cleared and auto-masked by
 * the device in MSI-X mode.
 */

#include <linux/bitfield.h>
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/netdev_queues.h>
#include <net/page_pool/helpers.h>

#include "netmap_kern.h"
#include "vnic.h"

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

/*
 * A frame whose TCP/UDP checksum the stack left to us (CHECKSUM_PARTIAL):
 * one context descriptor at @i says where the L4 header starts and which
 * checksum field to fill; the data descriptors then ask for it with TXSM.
 * The stack has put the pseudo-header sum in the field, so the device sums
 * from the L4 header to the end, as skb_checksum_help would.
 *
 * Return: false if the device cannot do this one (the caller does it).
 */
static bool vnic_tx_context(struct vnic_ring *ring, struct sk_buff *skb,
			    u16 i)
{
	struct vnic_adv_tx_context_desc *ctx = (void *)VNIC_TX_DESC(ring, i);
	unsigned int maclen = skb_network_offset(skb);
	unsigned int l4 = skb_checksum_start_offset(skb);
	u32 tucmd = VNIC_TXCTX_DTYP_CTXT | VNIC_TXCTX_DEXT;

	switch (skb->csum_offset) {
	case offsetof(struct tcphdr, check):
		tucmd |= VNIC_TXCTX_TUCMD_L4T_TCP;
		break;
	case offsetof(struct udphdr, check):
		tucmd |= VNIC_TXCTX_TUCMD_L4T_UDP;
		break;
	default:
		return false;
	}
	if (l4 < maclen || maclen > FIELD_MAX(VNIC_TXCTX_MACLEN) ||
	    l4 - maclen > FIELD_MAX(VNIC_TXCTX_IPLEN))
		return false;
	if (skb->protocol == htons(ETH_P_IP))
		tucmd |= VNIC_TXCTX_TUCMD_IPV4;

	ctx->vlan_macip_lens = cpu_to_le32(FIELD_PREP(VNIC_TXCTX_MACLEN, maclen) |
					   FIELD_PREP(VNIC_TXCTX_IPLEN, l4 - maclen));
	ctx->seqnum_seed = 0;
	ctx->type_tucmd_mlhl = cpu_to_le32(tucmd);
	ctx->mss_l4len_idx = 0;	/* context 0 */
	return true;
}

u16 vnic_select_queue(struct net_device *netdev, struct sk_buff *skb,
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
netdev_tx_t vnic_xmit_frame(struct sk_buff *skb,
			    struct net_device *netdev)
{
	struct vnic_adapter *adapter = netdev_priv(netdev);
	u16 qidx = skb_get_queue_mapping(skb);
	struct vnic_ring *ring = &adapter->q_vectors[qidx].tx;
	unsigned int nr_frags = skb_shinfo(skb)->nr_frags;
	union vnic_adv_tx_desc *desc = NULL;
	struct vnic_tx_buffer *first, *buf;
	u32 cmd = VNIC_TXD_DTYP_DATA | VNIC_TXD_DEXT | VNIC_TXD_IFCS;
	u32 olinfo = skb->len << VNIC_TXD_PAYLEN_SHIFT;
	unsigned int f, len, netmap_frags = 0;
	skb_frag_t *frag;
	bool offload = false;
	u16 i = ring->next_to_use;
	dma_addr_t dma;

	/*
	 * The rings are netmap's: the stack's frames go to the host RX ring.
	 * While netmap.ko takes the rings back (reg off) the port is no
	 * longer active, but the rings still are netmap's: drop.
	 */
	if (unlikely(adapter->netmap)) {
		if (nm_port_active(adapter->nm_port))
			return nm_host_xmit(adapter->nm_port, skb);
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;
	}

	if (unlikely(vnic_desc_unused(ring) < nr_frags + 2)) {
		netif_stop_subqueue(netdev, qidx);
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.tx_busy++;
		u64_stats_update_end(&ring->stats.syncp);
		return NETDEV_TX_BUSY;
	}

	first = &ring->tx_buffer_info[i];
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		offload = vnic_tx_context(ring, skb, i);
		if (offload) {
			first->len = 0;	/* the context slot maps nothing */
			olinfo |= VNIC_TXD_TXSM;
			i = (i + 1 == ring->count) ? 0 : i + 1;
		} else if (skb_checksum_help(skb)) {
			goto drop;
		}
	}
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
		/* PAYLEN and offloads on the first; this clears a stale DD */
		desc->read.olinfo_status = cpu_to_le32(f ? 0 : olinfo);

		if (f == nr_frags)
			break;
		i = (i + 1 == ring->count) ? 0 : i + 1;
		frag = &skb_shinfo(skb)->frags[f];
		len = skb_frag_size(frag);
		netmap_frags += nm_page_in_region(skb_frag_page(frag));
		dma = skb_frag_dma_map(ring->dev, frag, 0, len, DMA_TO_DEVICE);
	}
	desc->read.cmd_type_len |= cpu_to_le32(VNIC_TXD_EOP | VNIC_TXD_RS);

	first->skb = skb;
	first->bytecount = max_t(unsigned int, skb->len, ETH_ZLEN);
	if (offload || netmap_frags) {
		u64_stats_update_begin(&ring->stats.syncp);
		ring->stats.csum_offload += offload;
		ring->stats.netmap_frags += netmap_frags;
		u64_stats_update_end(&ring->stats.syncp);
	}
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
	u64_stats_update_begin(&ring->stats.syncp);
	ring->stats.tx_dma_failed++;
	u64_stats_update_end(&ring->stats.syncp);
drop:
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* ------------------------------------------------------------------------
 * RX
 * ------------------------------------------------------------------------
 */

/*
 * A page for @buf: StackMap's while a stack port is open (its frames can
 * then reach the program with no copy), else, or when that pool has none
 * free, the ring's page pool's.
 */
static bool vnic_rx_get_page(struct vnic_ring *ring, struct vnic_rx_buffer *buf)
{
	struct vnic_adapter *adapter = netdev_priv(ring->netdev);
	struct nm_rx_pool *pool = READ_ONCE(adapter->rx_pool);
	unsigned int offset;

	if (pool) {
		struct page *page = nm_rx_pool_get(pool, &offset);

		if (page) {
			buf->dma = dma_map_page(ring->dev, page, 0, PAGE_SIZE,
						DMA_FROM_DEVICE);
			if (!dma_mapping_error(ring->dev, buf->dma)) {
				buf->page = page;
				buf->offset = offset;
				buf->netmap = true;
				return true;
			}
			put_page(page);		/* back to the pool */
		}
	}
	buf->page = page_pool_dev_alloc_pages(ring->page_pool);
	if (unlikely(!buf->page))
		return false;
	buf->dma = page_pool_get_dma_addr(buf->page);
	buf->offset = VNIC_RX_HEADROOM;
	buf->netmap = false;
	return true;
}

/* @buf's page goes back where it came from, unused */
static void vnic_rx_put_page(struct vnic_ring *ring, struct vnic_rx_buffer *buf,
			     bool napi)
{
	if (buf->netmap) {
		dma_unmap_page(ring->dev, buf->dma, PAGE_SIZE, DMA_FROM_DEVICE);
		put_page(buf->page);
	} else {
		page_pool_put_full_page(ring->page_pool, buf->page, napi);
	}
	buf->page = NULL;
}

/**
 * vnic_alloc_rx_buffers - arm up to @n free RX slots, then one doorbell
 * @ring: the RX ring
 * @n: how many slots to arm at most
 *
 * Writing hdr_addr = 0 clears the slot's stale DD bit (spec 3.1).  RDT is
 * set to next_to_use: the device owns [RDH, RDT) (spec 4.2).
 *
 * Return: false if no page was to be had (the page pool ran dry).
 */
bool vnic_alloc_rx_buffers(struct vnic_ring *ring, u16 n)
{
	u16 i = ring->next_to_use;
	bool ok = true;

	if (!n)
		return true;
	while (n--) {
		union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];

		if (unlikely(!vnic_rx_get_page(ring, buf))) {
			u64_stats_update_begin(&ring->stats.syncp);
			ring->stats.alloc_failed++;
			u64_stats_update_end(&ring->stats.syncp);
			ok = false;
			break;
		}
		desc->read.pkt_addr = cpu_to_le64(buf->dma + buf->offset);
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
 * vnic_build_split_skb - a header-split skb for a frame in a StackMap page
 * @qv: the vector (its NAPI context allocates)
 * @buf: the frame's page, at @buf->offset
 * @len: frame length, already validated
 *
 * The headers are copied into a small head; the payload stays where the
 * device wrote it, a frag of the page that takes over the descriptor's
 * reference.  TCP reads the payload from there, and StackMap can hand the
 * buffer to its program instead of copying.  Nothing of ours goes in the
 * page (no build_skb): the program can write it.
 *
 * Return: the skb, or NULL (the page is still ours then).
 */
static struct sk_buff *vnic_build_split_skb(struct vnic_q_vector *qv,
					    struct vnic_rx_buffer *buf, u16 len)
{
	void *va = page_address(buf->page) + buf->offset;
	unsigned int hlen;
	struct sk_buff *skb;

	hlen = eth_get_headlen(qv->rx.netdev, va,
			       min_t(unsigned int, len, VNIC_RX_HDR_MAX));
	skb = napi_alloc_skb(&qv->napi, VNIC_RX_HDR_MAX);
	if (!skb)
		return NULL;
	memcpy(__skb_put(skb, hlen), va, hlen);
	if (len > hlen)
		skb_add_rx_frag(skb, 0, buf->page, buf->offset + hlen,
				len - hlen, PAGE_SIZE);
	else
		put_page(buf->page);	/* all of it copied */
	return skb;
}

/*
 * What the device found checking the frame's checksums (RXCSUM asked it
 * to): a good TCP/UDP checksum spares the stack its own check; a bad one
 * is counted and left to the stack, which checks again and drops.
 */
static void vnic_rx_checksum(struct vnic_ring *ring, struct sk_buff *skb,
			     u32 status, unsigned int *good,
			     unsigned int *bad)
{
	if (!(status & VNIC_RXD_L4CS) ||
	    !(ring->netdev->features & NETIF_F_RXCSUM))
		return;
	if (status & (VNIC_RXD_ERR_TCPE | VNIC_RXD_ERR_IPE)) {
		(*bad)++;
		return;
	}
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	(*good)++;
}

/**
 * vnic_clean_rx_irq - pass received frames up, refill in batches (spec 4.2)
 * @qv: the vector whose RX ring to clean
 * @budget: frames we may pass up
 *
 * A frame must fit one buffer: the device splits larger ones (no EOP), and
 * those, like descriptors with error bits or impossible lengths, are
 * dropped and counted.  Checksums the device checked are trusted.
 *
 * Return: frames passed up.
 */
static int vnic_clean_rx_irq(struct vnic_q_vector *qv, int budget)
{
	struct vnic_ring *ring = &qv->rx;
	unsigned int pkts = 0, bytes = 0, len_err = 0, hw_err = 0;
	unsigned int csum_good = 0, csum_bad = 0, netmap_frags = 0;
	u16 i = ring->next_to_clean;
	u16 cleaned = 0;

	while (pkts < budget) {
		union vnic_adv_rx_desc *desc = VNIC_RX_DESC(ring, i);
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];
		struct sk_buff *skb;
		u32 status;
		u16 len;

		status = le32_to_cpu(desc->wb.status_error);
		if (!(status & VNIC_RXD_DD) || !buf->page)
			break;
		/* the length is valid only once DD is seen */
		dma_rmb();
		len = le16_to_cpu(desc->wb.length);
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

		if (buf->netmap) {
			dma_unmap_page(ring->dev, buf->dma, PAGE_SIZE,
				       DMA_FROM_DEVICE);
			skb = vnic_build_split_skb(qv, buf, len);
			if (unlikely(!skb))
				put_page(buf->page);
			else
				netmap_frags += skb_shinfo(skb)->nr_frags;
		} else {
			dma_sync_single_range_for_cpu(ring->dev, buf->dma,
						      buf->offset, len,
						      DMA_FROM_DEVICE);
			skb = vnic_build_rx_skb(qv, buf->page, len);
			if (unlikely(!skb))
				page_pool_put_full_page(ring->page_pool,
							buf->page, true);
		}
		buf->page = NULL;
		if (unlikely(!skb)) {
			u64_stats_update_begin(&ring->stats.syncp);
			ring->stats.alloc_failed++;
			u64_stats_update_end(&ring->stats.syncp);
			goto next;
		}
		skb->protocol = eth_type_trans(skb, ring->netdev);
		vnic_rx_checksum(ring, skb, status, &csum_good, &csum_bad);
		skb_record_rx_queue(skb, ring->queue_index);
		pkts++;
		bytes += len;
		napi_gro_receive(&qv->napi, skb);
		goto next;
drop:
		vnic_rx_put_page(ring, buf, true);
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
	ring->stats.csum_good += csum_good;
	ring->stats.csum_errors += csum_bad;
	ring->stats.netmap_frags += netmap_frags;
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
 * Interrupt handlers
 * ------------------------------------------------------------------------
 */

/* a queue pair's interrupt: NAPI, or in netmap mode the program's poll() */
static void vnic_queue_irq(struct vnic_q_vector *qv)
{
	struct vnic_adapter *adapter = qv->adapter;

	if (adapter->netmap)
		nm_port_irq(adapter->nm_port, qv->rx.queue_index);
	else
		napi_schedule_irqoff(&qv->napi);
}

/*
 * MSI-X queue vector: the device already cleared and masked it; NAPI or
 * netmap's arm_irq unmasks it
 */
static irqreturn_t vnic_msix_ring(int irq, void *data)
{
	vnic_queue_irq(data);
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
		vnic_queue_irq(qv);
	}
	return IRQ_HANDLED;
}

void vnic_free_irqs(struct vnic_adapter *adapter)
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

int vnic_request_irqs(struct vnic_adapter *adapter)
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

/* ------------------------------------------------------------------------
 * Ring memory
 * ------------------------------------------------------------------------
 */

/*
 * One coherent block: the descriptors, then the word a TX ring in netmap
 * mode has the device write its head to (RX rings leave it unused).
 */
static size_t vnic_ring_mem_size(const struct vnic_ring *ring)
{
	return ring->size + sizeof(*ring->head_wb);
}

static int vnic_alloc_ring_mem(struct vnic_ring *ring, size_t buf_size)
{
	ring->size = ALIGN(ring->count * VNIC_DESC_SIZE, VNIC_RING_ALIGN);
	ring->desc = dma_alloc_coherent(ring->dev, vnic_ring_mem_size(ring),
					&ring->dma, GFP_KERNEL);
	if (!ring->desc)
		return -ENOMEM;
	/* the device wants 128-byte aligned rings; coherent memory is paged */
	WARN_ON(ring->dma & (VNIC_RING_ALIGN - 1));
	ring->head_wb = ring->desc + ring->size;
	ring->head_wb_dma = ring->dma + ring->size;
	ring->tx_buffer_info = kvcalloc(ring->count, buf_size, GFP_KERNEL);
	if (!ring->tx_buffer_info) {
		dma_free_coherent(ring->dev, vnic_ring_mem_size(ring),
				  ring->desc, ring->dma);
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
		dma_free_coherent(ring->dev, vnic_ring_mem_size(ring),
				  ring->desc, ring->dma);
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

void vnic_clean_rx_ring(struct vnic_ring *ring)
{
	u16 i;

	if (!ring->rx_buffer_info)
		return;
	for (i = 0; i < ring->count; i++) {
		struct vnic_rx_buffer *buf = &ring->rx_buffer_info[i];

		if (buf->page)
			vnic_rx_put_page(ring, buf, false);
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

void vnic_clean_tx_ring(struct vnic_ring *ring)
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
void vnic_free_q_vectors(struct vnic_adapter *adapter)
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
int vnic_alloc_q_vectors(struct vnic_adapter *adapter)
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

