// SPDX-License-Identifier: GPL-2.0
/*
 * nm_stack.c - StackMap: the kernel's TCP for protocol work, netmap rings
 * for the data (stackmap-api.md, "spec" here; section 12 is the mechanism)
 *
 * A stack port, "stack:eth0", is a netmap port of its own beside the NIC's
 * port: one TX and one RX ring in the shared region, no hardware behind
 * them.  A program makes its connections with ordinary sockets (listen,
 * accept, connect) and attaches each one to the port (NETMAP_REQ_PST_FD_REG);
 * from then on the data of all of them moves through the port's rings, one
 * system call per batch, each slot naming its socket's fd in slot.ptr.
 *
 * TX, no copy: every slot is handed to its socket's TCP with
 * tcp_sendmsg_locked(MSG_ZEROCOPY) over a bio_vec of the buffer's page and
 * a ubuf_info of ours.  TCP puts the page itself in its segments (the NIC
 * DMAs from the netmap buffer; its TX checksum offload keeps the frags
 * unshared, spec 12) and keeps it until the data is acknowledged, so the
 * slot gets a fresh buffer (NS_BUF_CHANGED) and the old one goes back to
 * the pool when the ubuf_info's last reference is dropped.  A socket whose
 * send buffer is full stops the sync at its slot; the next sync retries.
 *
 * RX (spec 12): the sockets' data_ready callbacks flag them and wake the
 * port; rxsync runs tcp_read_sock on each flagged socket, which puts what
 * TCP accepted into free RX slots and tells TCP it was read (window
 * updates, ACKs).  No copy ("v2") when the data is still where the NIC
 * wrote it: while a stack port is active the NIC receives into whole
 * pages of the region (the RX pool below) and builds header-split skbs,
 * so a segment's payload is a frag of a netmap buffer; the slot then gets
 * that buffer, and doff says where the payload starts.  Anything else
 * (data TCP copied to coalesce, a NIC without stack_rx) is copied ("v1").
 * End of stream is a slot with len == doff.
 *
 * Kernel state never lives in the buffers (the program can write them): a
 * buffer's ubuf_info is in stack->bufs[buf_idx].  The socket callbacks and
 * the completion run in softirq: they set bits, free a buffer to the pool
 * (a BH-safe lock) and wake; rings change only inside a sync.  Retransmit
 * queues may hold buffers for minutes: each held buffer keeps a reference
 * to the stack and to this module, so neither goes before TCP lets go.
 */

#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/transp_v6.h>

#include "nm_core.h"

static unsigned int stack_slots = 1024;
module_param(stack_slots, uint, 0444);
MODULE_PARM_DESC(stack_slots, "Slots of a stack port's TX and RX ring (default 1024)");

#define NM_PST_FD_MIN	3	/* PASTE: 0-2 are never sockets to attach */
#define NM_PST_FD_MAX	65535

enum nm_stack_buf_state { NM_BUF_IDLE, NM_BUF_SENDING, NM_BUF_HELD };

/*
 * An skb points to one ubuf_info.  For TCP to put several slots in one
 * segment (full MSS-sized segments, one GSO skb for a large answer) their
 * buffers form a group: the first is the head, whose ubuf_info the skbs
 * point to; the others join it (link_skb) and hold a reference to it until
 * their own references are gone.  The group comes back when the head's
 * last reference goes.  NM_GROUP_MAX bounds how long a stream's buffers
 * can be kept together.
 */
#define NM_GROUP_MAX	16

/**
 * struct nm_stack_buf - a TX buffer while TCP has (part of) it
 * @ubuf: TCP's handle: one reference per skb, one of ours while we send,
 *	and (a head) one per member of its group
 * @stack: whose pool the buffer returns to
 * @head: the head of its group (itself when alone or a head)
 * @next: the next member, in the head's list
 * @members: a head's members
 * @idx: the buffer
 * @state: IDLE in a ring; SENDING partly handed to TCP (the slot still in
 *	the ring, our reference held); HELD swapped out, TCP's alone
 */
struct nm_stack_buf {
	struct ubuf_info ubuf;
	struct nm_stack *stack;
	struct nm_stack_buf *head, *next;
	u16 members;
	u32 idx;
	enum nm_stack_buf_state state;
};

/*
 * The RX pool: whole pages of the region, one frame each (the page's
 * second buffer is never used), so that the kernel's references to a page
 * tell whether that frame is still in an skb.  A page is FREE (ours),
 * OUT (a NIC descriptor or an skb may hold it) or USER (lent to the
 * program in an RX slot).  An OUT page is FREE again when only the region
 * and the program's mappings hold it (nm_rx_page_idle); a USER page is
 * OUT again when the program gives its slot back.
 */
enum nm_rx_page_state { NM_RX_NONE, NM_RX_FREE, NM_RX_OUT, NM_RX_USER };

/* a full look over the pool finds nothing: look again one jiffy later */
#define NM_RX_RECLAIM_BATCH	32

/**
 * struct nm_rx_pool - the pages the NIC receives into for a stack port
 * @lock: BH (the NIC's refill runs in NAPI)
 * @mem: the region
 * @goff: where a frame starts in its buffer (the slots' generic offset)
 * @size: pages in @pages
 * @pages: the first buffer of every page
 * @free: indices into @pages of the FREE pages, @nfree of them
 * @state: per page of the region (buffer / NM_BUFS_PER_PAGE)
 * @entry: per page of the region, its index in @pages while in the pool
 * @scan: where the next look for idle pages starts
 * @dry_until: no full look before this jiffy
 * @holes: entries of @pages whose page a program kept (0 there), to be
 *	filled with fresh pages of the region
 * @kept: pages programs kept (swapped out of an RX slot), ever
 */
struct nm_rx_pool {
	spinlock_t lock;
	struct nm_mem *mem;
	u8 goff;
	u32 size, nfree, scan;
	u32 *pages, *free, *entry;
	u8 *state;
	unsigned long dry_until;
	u32 holes;
	u64 kept;
};

/* a socket's flags */
#define NM_SOCK_READY	0	/* data, space or a state change to look at */
#define NM_SOCK_EOF	1	/* the end-of-stream slot has been given */

/**
 * struct nm_stack_sock - one attached TCP socket
 * @sk: the socket (one reference of ours)
 * @stack: its stack
 * @fd: the program's fd for it, as slots name it
 * @flags: NM_SOCK_*
 * @data_ready: the socket's own callbacks, put back on detach
 * @write_space: likewise
 * @state_change: likewise
 * @rcu: freed after the callbacks that may still see it
 */
struct nm_stack_sock {
	struct sock *sk;
	struct nm_stack *stack;
	int fd;
	unsigned long flags;
	void (*data_ready)(struct sock *sk);
	void (*write_space)(struct sock *sk);
	void (*state_change)(struct sock *sk);
	struct rcu_head rcu;
};

/**
 * struct nm_stack - the StackMap side of one stack port
 * @port: the stack port (a reference held until the stack is freed)
 * @ref: one for the port's NIC attachment, one per held buffer
 * @mem: the region, held as long as buffers may come back to it
 * @socks: fd -> struct nm_stack_sock; changed only with no sync running
 * @bufs: per buffer index, the TX buffers' TCP state
 * @goff: the generic offset of every slot (NETMAP_REQ_OPT_OFFSETS of the
 *	program that has the port)
 * @tx_pending: the slot at TX hwcur is SENDING: TCP has part of it, or its
 *	buffer joined a group; the next sync finishes it
 * @tx_partial: bytes of that slot already given to TCP
 * @tx_partial_idx: that slot's buffer
 * @rx_next: the fd rxsync serves first (round robin)
 * @nic: the NIC's port, whose driver receives into @rx_pool
 * @rx_pool: NULL if the region could not spare it (RX copies then)
 * @rx_lent: per RX slot, the pool page's first buffer lent in it, or 0
 * @release: frees the stack in process context (nm_mem_put sleeps)
 *
 * Counters, for /proc/net/netmap: the sync's own are plain (one sync per
 * ring at a time), the completion's atomic.
 */
struct nm_stack {
	struct nm_port *port;
	struct kref ref;
	struct nm_mem *mem;
	struct xarray socks;
	struct nm_stack_buf *bufs;
	u8 goff;
	bool tx_pending;
	u32 tx_partial, tx_partial_idx;
	unsigned long rx_next;
	struct nm_port *nic;
	struct nm_rx_pool *rx_pool;
	u32 *rx_lent;
	struct work_struct release;

	u64 attached, tx_slots, tx_zerocopy, tx_copied, tx_eagain, tx_no_spare;
	u64 tx_dropped, rx_slots, rx_zerocopy, rx_bytes, rx_eof;
	atomic_t held;
	atomic64_t completions, copied_late;
};

static struct workqueue_struct *nm_stack_wq;

static inline struct nm_stack *nm_stack_of(const struct nm_port *port)
{
	return port->driver;
}

static u64 nm_pst_ptr(int fd, u32 doff, u8 goff)
{
	return ((u64)(u32)fd << NM_PST_FD_SHIFT & NM_PST_FD_MASK) |
	       ((u64)doff << NM_PST_DOFF_SHIFT & NM_PST_DOFF_MASK) | goff;
}

/* ------------------------------------------------------------------ */
/* The RX pool                                                         */
/* ------------------------------------------------------------------ */

/*
 * Does only the region (one reference) and the programs' mappings (one
 * each, vm_insert_pages) hold @page?  A mapping takes its reference
 * before it counts itself and uncounts itself before it drops it, so the
 * map count read on both sides of the reference count, and the same both
 * times, cannot make a held page look idle.
 */
static bool nm_rx_page_idle(struct page *page)
{
	struct folio *folio = page_folio(page);
	int mapped = folio_mapcount(folio);
	int refs;

	smp_rmb();
	refs = folio_ref_count(folio);
	smp_rmb();
	return mapped == folio_mapcount(folio) && refs - mapped == 1;
}

static inline u32 nm_rx_page_of(u32 buf)
{
	return buf / NM_BUFS_PER_PAGE;
}

/*
 * OUT pages nobody holds any more become FREE, and a page a program kept
 * is replaced by a fresh one from the region (a forwarding program would
 * otherwise empty the pool); pool->lock held
 */
static void nm_rx_pool_reclaim(struct nm_rx_pool *pool)
{
	u32 looked;

	if (time_before(jiffies, pool->dry_until))
		return;
	for (looked = 0; looked < pool->size &&
	     pool->nfree < NM_RX_RECLAIM_BATCH; looked++) {
		u32 i = pool->scan, buf = pool->pages[i];

		pool->scan = i + 1 == pool->size ? 0 : i + 1;
		if (!buf) {
			buf = nm_mem_page_alloc(pool->mem);
			if (!buf)
				continue;
			pool->pages[i] = buf;
			pool->entry[nm_rx_page_of(buf)] = i;
			pool->holes--;
		} else if (pool->state[nm_rx_page_of(buf)] != NM_RX_OUT ||
			   !nm_rx_page_idle(nm_mem_buf_page(pool->mem, buf))) {
			continue;
		}
		pool->state[nm_rx_page_of(buf)] = NM_RX_FREE;
		pool->free[pool->nfree++] = i;
	}
	if (!pool->nfree)
		pool->dry_until = jiffies + 1;
}

struct page *nm_rx_pool_get(struct nm_rx_pool *pool, unsigned int *offset)
{
	struct page *page;
	u32 buf;

	spin_lock_bh(&pool->lock);
	if (!pool->nfree)
		nm_rx_pool_reclaim(pool);
	if (!pool->nfree) {
		spin_unlock_bh(&pool->lock);
		return NULL;
	}
	buf = pool->pages[pool->free[--pool->nfree]];
	pool->state[nm_rx_page_of(buf)] = NM_RX_OUT;
	spin_unlock_bh(&pool->lock);

	page = nm_mem_buf_page(pool->mem, buf);
	get_page(page);		/* the descriptor's, then the frag's */
	*offset = pool->goff;
	return page;
}
EXPORT_SYMBOL_GPL(nm_rx_pool_get);

/* OUT -> USER: @buf goes into an RX slot; false if it is not an OUT page */
static bool nm_rx_pool_lend(struct nm_rx_pool *pool, u32 buf)
{
	u8 *state = &pool->state[nm_rx_page_of(buf)];
	bool lent;

	spin_lock_bh(&pool->lock);
	lent = *state == NM_RX_OUT;
	if (lent)
		*state = NM_RX_USER;
	spin_unlock_bh(&pool->lock);
	return lent;
}

/*
 * The program gave back the slot @buf was lent in: OUT, reclaimed once the
 * kernel lets go; or, @kept, the program swapped it out of the slot and
 * it is an ordinary buffer now (its page's other buffer too).
 */
static void nm_rx_pool_return(struct nm_rx_pool *pool, u32 buf, bool kept)
{
	spin_lock_bh(&pool->lock);
	pool->state[nm_rx_page_of(buf)] = kept ? NM_RX_NONE : NM_RX_OUT;
	if (kept) {
		pool->pages[pool->entry[nm_rx_page_of(buf)]] = 0;
		pool->holes++;
		pool->kept++;
	}
	spin_unlock_bh(&pool->lock);
	if (kept)
		nm_mem_buf_free(pool->mem, buf + 1);
}

/*
 * The pool, sized to fill every descriptor of the NIC and every slot of
 * the port: more would sit idle, fewer makes the NIC fall back to its own
 * pages (and RX to copies) under load.  It takes at most a quarter of the
 * region's free buffers.  NULL if the region cannot spare any.
 */
static struct nm_rx_pool *nm_rx_pool_create(struct nm_mem *mem, u32 want)
{
	struct nm_rx_pool *pool;
	u32 buf;

	want = min(want, mem->free_bufs / 4 / NM_BUFS_PER_PAGE);
	if (!want)
		return NULL;
	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		return NULL;
	spin_lock_init(&pool->lock);
	pool->mem = mem;
	pool->pages = kvcalloc(want, sizeof(*pool->pages), GFP_KERNEL);
	pool->free = kvcalloc(want, sizeof(*pool->free), GFP_KERNEL);
	pool->state = kvzalloc(mem->buf_count / NM_BUFS_PER_PAGE, GFP_KERNEL);
	pool->entry = kvcalloc(mem->buf_count / NM_BUFS_PER_PAGE,
			       sizeof(*pool->entry), GFP_KERNEL);
	if (!pool->pages || !pool->free || !pool->state || !pool->entry) {
		kvfree(pool->entry);
		kvfree(pool->state);
		kvfree(pool->free);
		kvfree(pool->pages);
		kfree(pool);
		return NULL;
	}
	while (pool->size < want && (buf = nm_mem_page_alloc(mem))) {
		pool->state[nm_rx_page_of(buf)] = NM_RX_FREE;
		pool->entry[nm_rx_page_of(buf)] = pool->size;
		pool->free[pool->nfree++] = pool->size;
		pool->pages[pool->size++] = buf;
	}
	return pool;
}

/*
 * Pages back to the region, except those an skb still holds somewhere (a
 * packet socket's queue, say): those stay taken, or the NIC or another
 * program could write a frame into data the kernel still reads.
 */
static void nm_rx_pool_free(struct nm_rx_pool *pool)
{
	u32 i, busy = 0;

	if (!pool)
		return;
	for (i = 0; i < pool->size; i++) {
		u32 buf = pool->pages[i];

		if (!buf)
			continue;	/* a program's page, not refilled */
		switch (pool->state[nm_rx_page_of(buf)]) {
		case NM_RX_OUT:
			if (!nm_rx_page_idle(nm_mem_buf_page(pool->mem, buf))) {
				busy++;
				break;
			}
			fallthrough;
		case NM_RX_FREE:
			nm_mem_buf_free(pool->mem, buf);
			nm_mem_buf_free(pool->mem, buf + 1);
			break;
		default:
			break;
		}
	}
	if (busy)
		pr_warn(NM_PFX "%u received pages still held by the kernel stay out of the region\n",
			busy);
	kvfree(pool->entry);
	kvfree(pool->state);
	kvfree(pool->free);
	kvfree(pool->pages);
	kfree(pool);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

static void nm_stack_release_work(struct work_struct *work)
{
	struct nm_stack *stack = container_of(work, struct nm_stack, release);

	synchronize_rcu();	/* socket callbacks that still saw us */
	nm_rx_pool_free(stack->rx_pool);
	nm_mem_put(stack->mem);
	kvfree(stack->rx_lent);
	kvfree(stack->bufs);
	xa_destroy(&stack->socks);
	nm_port_put(stack->port);
	kfree(stack);
}

static void nm_stack_free(struct kref *ref)
{
	struct nm_stack *stack = container_of(ref, struct nm_stack, ref);

	queue_work(nm_stack_wq, &stack->release);
}

static void nm_stack_put(struct nm_stack *stack)
{
	kref_put(&stack->ref, nm_stack_free);
}

/* ------------------------------------------------------------------ */
/* Sockets: attach, the callbacks, detach                              */
/* ------------------------------------------------------------------ */

static struct nm_stack_sock *nm_sock_of(struct sock *sk)
{
	return rcu_dereference_sk_user_data(sk);
}

/* softirq or process context: flag the socket, wake the port's readers */
static void nm_stack_data_ready(struct sock *sk)
{
	struct nm_stack_sock *ss;

	rcu_read_lock();
	ss = nm_sock_of(sk);
	if (ss) {
		set_bit(NM_SOCK_READY, &ss->flags);
		wake_up(&ss->stack->port->wq[NM_RX]);
	}
	rcu_read_unlock();
}

static void nm_stack_write_space(struct sock *sk)
{
	struct nm_stack_sock *ss;

	rcu_read_lock();
	ss = nm_sock_of(sk);
	if (ss) {
		wake_up(&ss->stack->port->wq[NM_TX]);
		ss->write_space(sk);
	}
	rcu_read_unlock();
}

static void nm_stack_state_change(struct sock *sk)
{
	struct nm_stack_sock *ss;

	rcu_read_lock();
	ss = nm_sock_of(sk);
	if (ss) {
		set_bit(NM_SOCK_READY, &ss->flags);
		wake_up(&ss->stack->port->wq[NM_RX]);
		ss->state_change(sk);
	}
	rcu_read_unlock();
}

/* the socket's own callbacks back; no sync running */
static void nm_stack_sock_detach(struct nm_stack_sock *ss)
{
	struct sock *sk = ss->sk;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = ss->data_ready;
	sk->sk_write_space = ss->write_space;
	sk->sk_state_change = ss->state_change;
	rcu_assign_sk_user_data(sk, NULL);
	write_unlock_bh(&sk->sk_callback_lock);
	sock_put(sk);
	kfree_rcu(ss, rcu);
}

/* spec 12: plain TCP only, no kTLS or other ULP, no sockmap, MPTCP */
static bool nm_stack_sock_ok(struct sock *sk)
{
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return false;
	if (sk->sk_prot != &tcp_prot &&
	    (!IS_ENABLED(CONFIG_IPV6) || sk->sk_prot != &tcpv6_prot))
		return false;
	if (inet_csk(sk)->icsk_ulp_ops)
		return false;
	return (1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT);
}

/**
 * nm_stack_attach - NETMAP_REQ_PST_FD_REG: the socket @fd joins the port
 * @port: a bound stack port
 * @fd: the program's descriptor of a connected TCP socket
 *
 * Errors as PASTE's (spec 4): EINVAL for a bad fd or socket, ENOMEM for
 * an fd beyond NM_PST_FD_MAX, EBUSY when the socket is already attached.
 * An fd the program closed and reused replaces its old entry.
 *
 * Return: 0 or -errno.
 */
int nm_stack_attach(struct nm_port *port, int fd)
{
	struct nm_stack *stack = nm_stack_of(port);
	struct nm_stack_sock *ss, *old;
	struct socket *sock;
	struct sock *sk;
	int err;

	if (fd < NM_PST_FD_MIN)
		return -EINVAL;
	if (fd > NM_PST_FD_MAX)
		return -ENOMEM;
	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return -EINVAL;
	sk = sock->sk;
	err = -EINVAL;
	if (!sk || !nm_stack_sock_ok(sk))
		goto out;
	err = -ENOMEM;
	ss = kzalloc(sizeof(*ss), GFP_KERNEL);
	if (!ss)
		goto out;

	down_write(&port->sync_lock);	/* no sync walks the table now */
	err = -ENXIO;
	if (port->dead || !port->active)
		goto err_unlock;
	old = xa_load(&stack->socks, fd);
	err = -EBUSY;
	if (old && old->sk == sk)
		goto err_unlock;

	if (READ_ONCE(sk->sk_user_data))	/* another port, or another user */
		goto err_unlock;
	err = xa_err(xa_store(&stack->socks, fd, ss, GFP_KERNEL));
	if (err)
		goto err_unlock;
	if (old)
		nm_stack_sock_detach(old);

	write_lock_bh(&sk->sk_callback_lock);
	ss->sk = sk;
	ss->stack = stack;
	ss->fd = fd;
	ss->data_ready = sk->sk_data_ready;
	ss->write_space = sk->sk_write_space;
	ss->state_change = sk->sk_state_change;
	sock_hold(sk);
	/* what arrived before the attach is read at the next rxsync */
	set_bit(NM_SOCK_READY, &ss->flags);
	rcu_assign_sk_user_data(sk, ss);
	sk->sk_data_ready = nm_stack_data_ready;
	sk->sk_write_space = nm_stack_write_space;
	sk->sk_state_change = nm_stack_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	up_write(&port->sync_lock);

	stack->attached++;
	tcp_sock_set_nodelay(sk);	/* a slot is a message: send it now */
	wake_up(&port->wq[NM_RX]);
	sockfd_put(sock);
	return 0;

err_unlock:
	up_write(&port->sync_lock);
	kfree(ss);
out:
	sockfd_put(sock);
	return err;
}

/* ------------------------------------------------------------------ */
/* TX                                                                  */
/* ------------------------------------------------------------------ */

/* a HELD buffer TCP is done with goes back to the pool */
static void nm_stack_buf_release(struct nm_stack_buf *buf)
{
	struct nm_stack *stack = buf->stack;

	WRITE_ONCE(buf->state, NM_BUF_IDLE);
	nm_mem_buf_free(stack->mem, buf->idx);
	atomic_dec(&stack->held);
	atomic64_inc(&stack->completions);
	nm_stack_put(stack);
	module_put(THIS_MODULE);
}

/* softirq or process context: TCP (or we) let go of a reference */
static void nm_stack_complete(struct sk_buff *skb, struct ubuf_info *uarg,
			      bool zerocopy_success)
{
	struct nm_stack_buf *buf = container_of(uarg, struct nm_stack_buf, ubuf);
	struct nm_stack *stack = buf->stack;
	struct nm_stack_buf *next;

	if (!zerocopy_success)	/* e.g. a packet tap copied the frags */
		atomic64_inc(&stack->copied_late);
	if (!refcount_dec_and_test(&uarg->refcnt))
		return;
	if (buf->head != buf) {
		/* a member: its data may be in the head's skbs, the head decides */
		nm_stack_complete(skb, &buf->head->ubuf, true);
		return;
	}
	/* a head (with its members): only HELD buffers lose their last reference */
	kref_get(&stack->ref);	/* the wake-up below comes after the releases */
	for (; buf; buf = next) {
		next = buf->next;
		nm_stack_buf_release(buf);
	}
	wake_up(&stack->port->wq[NM_TX]);
	nm_stack_put(stack);
}

/*
 * TCP appends @uarg's buffer to @skb (socket locked, our txsync): the
 * first buffer of an skb is its ubuf_info; a later one joins its group.
 */
static int nm_stack_link_skb(struct sk_buff *skb, struct ubuf_info *uarg)
{
	struct nm_stack_buf *buf = container_of(uarg, struct nm_stack_buf, ubuf);
	struct ubuf_info *prev_uarg = skb_zcopy(skb);
	struct nm_stack_buf *head;

	if (!prev_uarg) {
		net_zcopy_get(uarg);
		skb_zcopy_init(skb, uarg);
		return 0;
	}
	if (prev_uarg == uarg)		/* more of the same buffer */
		return 0;
	/* a buffer in a group, or an skb of someone else's: a new skb */
	if (buf->head != buf || buf->next || prev_uarg->ops != uarg->ops)
		return -EEXIST;
	head = container_of(prev_uarg, struct nm_stack_buf, ubuf)->head;
	if (head->members >= NM_GROUP_MAX)
		return -EEXIST;
	buf->head = head;
	buf->next = head->next;
	head->next = buf;
	head->members++;
	net_zcopy_get(&head->ubuf);	/* the member's, until it is done */
	return 0;
}

static const struct ubuf_info_ops nm_stack_ubuf_ops = {
	.complete = nm_stack_complete,
	.link_skb = nm_stack_link_skb,
};

/* what one slot asks for, checked */
struct nm_stack_tx {
	struct nm_stack_sock *ss;
	u32 idx, goff, doff, len;
};

enum nm_stack_tx_verdict { NM_TX_SEND, NM_TX_EMPTY, NM_TX_DROP };

static int nm_slot_fd(const struct netmap_slot *slot)
{
	return (READ_ONCE(slot->ptr) & NM_PST_FD_MASK) >> NM_PST_FD_SHIFT;
}

static enum nm_stack_tx_verdict
nm_stack_tx_parse(struct nm_stack *stack, struct nm_kring *kring,
		  struct netmap_slot *slot, struct nm_stack_tx *tx)
{
	u64 ptr = READ_ONCE(slot->ptr);

	tx->idx = READ_ONCE(slot->buf_idx);
	tx->len = READ_ONCE(slot->len);
	tx->goff = ptr & NM_PST_OFFSET_MASK;
	tx->doff = (ptr & NM_PST_DOFF_MASK) >> NM_PST_DOFF_SHIFT;
	if (tx->len <= tx->doff)
		return NM_TX_EMPTY;
	tx->ss = xa_load(&stack->socks, nm_slot_fd(slot));
	if (!tx->ss)
		return NM_TX_DROP;	/* PASTE too skips an unknown fd */
	if (!nm_mem_buf_valid(stack->mem, tx->idx) ||
	    tx->goff + tx->len > NM_BUF_SIZE ||
	    stack->bufs[tx->idx].state == NM_BUF_HELD) {
		pr_warn_ratelimited(NM_PFX "stack:%s tx: slot %td: bad buffer %u, offset %u or length %u\n",
				    kring->port->netdev->name,
				    slot - kring->ring->slot, tx->idx,
				    tx->goff, tx->len);
		return NM_TX_DROP;
	}
	return NM_TX_SEND;
}

/* @buf leaves the ring for TCP: it pins the stack and the module until it is back */
static void nm_stack_buf_hold(struct nm_stack *stack, struct nm_stack_buf *buf)
{
	buf->state = NM_BUF_HELD;
	atomic_inc(&stack->held);
	kref_get(&stack->ref);
	__module_get(THIS_MODULE);
}

/*
 * The half-sent slot's buffer is leaving the ring (the port closes, or the
 * program put another buffer in the slot): TCP keeps the part it has, and
 * the buffer comes back when it lets go, as a sent one does.
 */
static void nm_stack_hold_partial(struct nm_stack *stack)
{
	struct nm_stack_buf *buf = &stack->bufs[stack->tx_partial_idx];

	stack->tx_pending = false;
	nm_stack_buf_hold(stack, buf);
	net_zcopy_put(&buf->ubuf);	/* our reference */
}

/*
 * Hand the rest of one slot to TCP, socket locked.  Return: 0 when the
 * slot is done with (sent, or refused for good and dropped), -EAGAIN when
 * the socket cannot take more now (the sync stops at this slot).
 */
static int nm_stack_tx_slot(struct nm_stack *stack, struct nm_kring *kring,
			    struct netmap_slot *slot, struct nm_stack_tx *tx,
			    bool more)
{
	struct nm_stack_buf *buf = &stack->bufs[tx->idx];
	u32 done = stack->tx_pending ? stack->tx_partial : 0;
	u32 size = tx->len - tx->doff - done;
	struct sock *sk = tx->ss->sk;
	struct msghdr msg = {};
	struct bio_vec bvec;
	bool taken;
	u32 spare;
	int sent;

	if (!READ_ONCE(sk->sk_socket) ||
	    !((1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT))) {
		sent = -EPIPE;	/* closed by the program or by the peer */
		goto refused;
	}
	/* the slot's next buffer, taken first: a sent slot must get one */
	spare = nm_mem_buf_alloc(stack->mem);
	if (!spare) {
		stack->tx_no_spare++;
		return -EAGAIN;
	}
	if (buf->state == NM_BUF_IDLE) {
		buf->ubuf.ops = &nm_stack_ubuf_ops;
		buf->ubuf.flags = SKBFL_ZEROCOPY_FRAG | SKBFL_DONT_ORPHAN;
		refcount_set(&buf->ubuf.refcnt, 1);	/* ours */
		buf->stack = stack;
		buf->head = buf;
		buf->next = NULL;
		buf->members = 0;
		buf->idx = tx->idx;
		buf->state = NM_BUF_SENDING;
	}
	bvec_set_page(&bvec, nm_mem_buf_page(stack->mem, tx->idx), size,
		      (tx->idx % NM_BUFS_PER_PAGE) * NM_BUF_SIZE + tx->goff +
		      tx->doff + done);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, size);
	msg.msg_flags = MSG_ZEROCOPY | MSG_DONTWAIT | (more ? MSG_MORE : 0);
	msg.msg_ubuf = &buf->ubuf;
	sent = tcp_sendmsg_locked(sk, &msg, size);

	if (sent >= 0 && sent < size) {		/* the send buffer filled up */
		done += sent;
		sent = -EAGAIN;
	}
	taken = done || buf->head != buf || refcount_read(&buf->ubuf.refcnt) > 1;
	if (sent == -EAGAIN) {
		nm_mem_buf_free(stack->mem, spare);
		stack->tx_eagain++;
		/* finish it next time; or, if TCP took nothing, start afresh */
		stack->tx_pending = taken;
		stack->tx_partial = done;
		stack->tx_partial_idx = tx->idx;
		if (!taken)
			buf->state = NM_BUF_IDLE;
		return -EAGAIN;
	}
	stack->tx_pending = false;
	if (sent < 0 && !taken) {
		nm_mem_buf_free(stack->mem, spare);
		buf->state = NM_BUF_IDLE;
		goto refused;
	}
	/* sent; or refused after TCP took part of it: the buffer is TCP's */
	if (sent < 0)
		stack->tx_dropped++;
	else
		stack->tx_slots++;
	if (!taken) {
		/* TCP copied (no scatter-gather on the route): keep it */
		buf->state = NM_BUF_IDLE;
		nm_mem_buf_free(stack->mem, spare);
		stack->tx_copied++;
		return 0;
	}
	/* TCP holds the page: the buffer leaves the ring until it lets go */
	nm_stack_buf_hold(stack, buf);
	WRITE_ONCE(slot->buf_idx, spare);
	WRITE_ONCE(slot->flags, READ_ONCE(slot->flags) | NS_BUF_CHANGED);
	stack->tx_zerocopy++;
	net_zcopy_put(&buf->ubuf);	/* our reference */
	return 0;

refused:
	stack->tx_dropped++;
	return 0;
}

/*
 * Slots [hwcur, rhead) go to their sockets in ring order, each socket
 * locked once for a run of its slots (MSG_MORE but on the run's last).
 * Everything up to the first refused slot is consumed: hwcur moves there
 * and every other slot is the program's again (tail = hwcur - 1).
 */
static int nm_stack_txsync(struct nm_kring *kring, unsigned int flags)
{
	struct nm_stack *stack = nm_stack_of(kring->port);
	struct netmap_ring *ring = kring->ring;
	struct sock *locked = NULL;
	u32 i = kring->hwcur;

	while (i != kring->rhead) {
		struct netmap_slot *slot = &ring->slot[i];
		u32 next = nm_next(kring, i);
		enum nm_stack_tx_verdict verdict;
		struct nm_stack_tx tx;
		bool more;

		if (stack->tx_pending &&
		    READ_ONCE(slot->buf_idx) != stack->tx_partial_idx)
			nm_stack_hold_partial(stack);
		verdict = nm_stack_tx_parse(stack, kring, slot, &tx);
		if (verdict != NM_TX_SEND) {
			stack->tx_dropped += verdict == NM_TX_DROP;
			i = next;
			continue;
		}
		if (locked != tx.ss->sk) {
			if (locked)
				release_sock(locked);
			locked = tx.ss->sk;
			lock_sock(locked);
		}
		more = next != kring->rhead &&
		       nm_slot_fd(&ring->slot[next]) == tx.ss->fd;
		if (nm_stack_tx_slot(stack, kring, slot, &tx, more))
			break;
		i = next;
	}
	if (locked)
		release_sock(locked);	/* also runs TCP's backlog: ACKs */
	kring->hwcur = i;
	kring->hwtail = nm_prev(kring, i);
	return 0;
}

/* ------------------------------------------------------------------ */
/* RX                                                                  */
/* ------------------------------------------------------------------ */

struct nm_stack_rx {
	struct nm_stack *stack;
	struct nm_kring *kring;
	int fd;
	u32 avail;	/* free slots left */
};

/* the next free RX slot gets @len bytes of @fd's stream, at @doff */
static void nm_stack_rx_fill(struct nm_stack_rx *rx, u32 doff, u32 len)
{
	struct nm_kring *kring = rx->kring;
	struct netmap_slot *slot = &kring->ring->slot[kring->hwtail];

	slot->len = doff + len;
	slot->ptr = nm_pst_ptr(rx->fd, doff, rx->stack->goff);
	kring->hwtail = nm_next(kring, kring->hwtail);
	rx->avail--;
	rx->stack->rx_slots++;
	rx->stack->rx_bytes += len;
}

/* copy [pos, pos + len) of @skb into as many free slots as it takes */
static size_t nm_stack_rx_copy(struct nm_stack_rx *rx, struct sk_buff *skb,
			       unsigned int pos, size_t len)
{
	struct nm_kring *kring = rx->kring;
	u32 room = NM_BUF_SIZE - rx->stack->goff;
	size_t copied = 0;

	while (copied < len && rx->avail) {
		struct netmap_slot *slot = &kring->ring->slot[kring->hwtail];
		u32 n = min_t(size_t, len - copied, room);

		if (skb_copy_bits(skb, pos + copied,
				  nm_slot_addr(kring, slot) + rx->stack->goff, n))
			break;
		slot->flags = 0;
		nm_stack_rx_fill(rx, 0, n);
		copied += n;
	}
	return copied;
}

/*
 * @frag is a whole payload the NIC wrote into a pool page: lend the page's
 * buffer to the next free slot instead of copying.  The buffer it replaces
 * goes back to the region; the program's release of the slot brings the
 * page back to the pool (nm_stack_rx_return).
 */
static bool nm_stack_rx_lend(struct nm_stack_rx *rx, const skb_frag_t *frag)
{
	struct nm_stack *stack = rx->stack;
	struct nm_kring *kring = rx->kring;
	struct netmap_slot *slot = &kring->ring->slot[kring->hwtail];
	u32 off = skb_frag_off(frag), size = skb_frag_size(frag), buf;

	if (!stack->rx_pool)
		return false;
	buf = nm_mem_page_buf(stack->mem, skb_frag_page(frag));
	/* in the page's first buffer, after the slots' offset, doff in range */
	if (!buf || off < stack->goff || off - stack->goff > NM_PST_DOFF_MAX ||
	    off + size > NM_BUF_SIZE)
		return false;
	if (!nm_rx_pool_lend(stack->rx_pool, buf))
		return false;
	nm_mem_buf_free(stack->mem, slot->buf_idx);
	stack->rx_lent[kring->hwtail] = buf;
	slot->buf_idx = buf;
	slot->flags = NS_BUF_CHANGED;
	stack->rx_zerocopy++;
	nm_stack_rx_fill(rx, off - stack->goff, size);
	return true;
}

/*
 * How much of @skb from @pos on (up to @end) is one piece: the rest of the
 * linear part, of a frag, or the frag list.  *@whole is the frag when the
 * piece is all of it.
 */
static unsigned int nm_skb_piece(const struct sk_buff *skb, unsigned int pos,
				 unsigned int end, const skb_frag_t **whole)
{
	unsigned int start = skb_headlen(skb), f;

	*whole = NULL;
	if (pos < start)
		return min(end, start) - pos;
	for (f = 0; f < skb_shinfo(skb)->nr_frags; f++) {
		const skb_frag_t *frag = &skb_shinfo(skb)->frags[f];
		unsigned int size = skb_frag_size(frag);

		if (pos < start + size) {
			if (pos == start && end >= start + size)
				*whole = frag;
			return min(end, start + size) - pos;
		}
		start += size;
	}
	return end - pos;	/* the frag list */
}

/*
 * tcp_read_sock's actor: [offset, offset + len) of @skb into slots.  The
 * linear part (headers stay out of it: the NIC splits them off) and the
 * frag list are copied, each frag the NIC wrote is lent, other frags are
 * copied.  A frag TCP consumed part of before (a full ring) is copied.
 */
static int nm_stack_rx_actor(read_descriptor_t *desc, struct sk_buff *skb,
			     unsigned int offset, size_t len)
{
	struct nm_stack_rx *rx = desc->arg.data;
	unsigned int pos = offset, end = offset + len;

	while (pos < end && rx->avail) {
		const skb_frag_t *whole;
		unsigned int n = nm_skb_piece(skb, pos, end, &whole);
		size_t done;

		if (whole && nm_stack_rx_lend(rx, whole)) {
			pos += n;
			continue;
		}
		done = nm_stack_rx_copy(rx, skb, pos, n);
		pos += done;
		if (done < n)
			break;
	}
	desc->count = rx->avail;	/* 0 stops tcp_read_sock */
	return pos - offset;
}

/*
 * The program is done with slot @i: a page lent in it goes back to the
 * pool, and the slot gets an ordinary buffer again.  A program that
 * swapped the page out of the slot (NS_BUF_CHANGED) keeps it.
 */
static void nm_stack_rx_return(struct nm_stack *stack, struct nm_kring *kring,
			       u32 i)
{
	struct netmap_slot *slot = &kring->ring->slot[i];
	u32 lent = stack->rx_lent[i], buf;

	if (!lent)
		return;
	stack->rx_lent[i] = 0;
	if (READ_ONCE(slot->buf_idx) != lent) {
		nm_rx_pool_return(stack->rx_pool, lent, true);
		return;
	}
	buf = nm_mem_buf_alloc(stack->mem);
	if (!buf) {
		/* none to put back: the slot keeps the page as its own */
		nm_rx_pool_return(stack->rx_pool, lent, true);
		return;
	}
	nm_rx_pool_return(stack->rx_pool, lent, false);
	slot->buf_idx = buf;
	slot->flags = NS_BUF_CHANGED;
}

/* one socket: its data into slots, then its end of stream */
static void nm_stack_rx_sock(struct nm_stack_rx *rx, struct nm_stack_sock *ss)
{
	struct sock *sk = ss->sk;
	read_descriptor_t desc = { .arg.data = rx, .count = rx->avail };

	if (!READ_ONCE(sk->sk_socket))
		return;		/* the program closed it: nobody to read for */
	rx->fd = ss->fd;
	lock_sock(sk);
	if (!test_bit(NM_SOCK_EOF, &ss->flags))
		tcp_read_sock(sk, &desc, nm_stack_rx_actor);
	if (!skb_queue_empty(&sk->sk_receive_queue) || !rx->avail) {
		set_bit(NM_SOCK_READY, &ss->flags);	/* more next time */
	} else if ((READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
		   !test_and_set_bit(NM_SOCK_EOF, &ss->flags)) {
		/* FIN or RST, after the last byte: one slot with len == doff */
		struct netmap_slot *slot = &rx->kring->ring->slot[rx->kring->hwtail];

		slot->len = 0;
		slot->ptr = nm_pst_ptr(ss->fd, 0, rx->stack->goff);
		slot->flags = 0;
		rx->kring->hwtail = nm_next(rx->kring, rx->kring->hwtail);
		rx->avail--;
		rx->stack->rx_eof++;
	}
	release_sock(sk);
}

/* serve @ss if flagged; false when the ring is full (@fd goes first next) */
static bool nm_stack_rx_ready(struct nm_stack_rx *rx, struct nm_stack_sock *ss,
			      unsigned long fd)
{
	if (!rx->avail) {
		rx->stack->rx_next = fd;
		return false;
	}
	if (test_and_clear_bit(NM_SOCK_READY, &ss->flags))
		nm_stack_rx_sock(rx, ss);
	rx->stack->rx_next = fd + 1;
	return true;
}

/*
 * Slots [hwcur, rhead) are the program's no more; every flagged socket
 * then fills free slots from hwtail on, one socket after the other (a
 * socket's slots are an in-order piece of its stream).  One slot stays
 * empty so that a full ring is not an empty one.
 */
static int nm_stack_rxsync(struct nm_kring *kring, unsigned int flags)
{
	struct nm_stack *stack = nm_stack_of(kring->port);
	struct nm_stack_rx rx = { .stack = stack, .kring = kring };
	struct nm_stack_sock *ss;
	unsigned long fd;

	for (; kring->hwcur != kring->rhead; kring->hwcur = nm_next(kring, kring->hwcur))
		nm_stack_rx_return(stack, kring, kring->hwcur);
	rx.avail = nm_distance(kring, kring->hwtail, nm_prev(kring, kring->hwcur));
	/* from rx_next to the end, then from the start: nobody starves */
	xa_for_each_start(&stack->socks, fd, ss, stack->rx_next)
		if (!nm_stack_rx_ready(&rx, ss, fd))
			return 0;
	xa_for_each_range(&stack->socks, fd, ss, 0, stack->rx_next - 1)
		if (!nm_stack_rx_ready(&rx, ss, fd))
			return 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The port                                                            */
/* ------------------------------------------------------------------ */

/* reg: on, the slots start at the generic offset; off, sockets go back */
static int nm_stack_reg(struct nm_port *port, bool on)
{
	struct nm_stack *stack = nm_stack_of(port);
	struct nm_stack_sock *ss;
	unsigned long fd;
	enum nm_txrx d;
	u32 s;

	if (on) {
		stack->rx_lent = kvcalloc(port->rx_rings[0].nr_slots,
					  sizeof(*stack->rx_lent), GFP_KERNEL);
		if (!stack->rx_lent)
			return -ENOMEM;
		if (stack->rx_pool && stack->nic->ops->stack_rx) {
			stack->rx_pool->goff = stack->goff;
			stack->nic->ops->stack_rx(stack->nic, stack->rx_pool);
		}
		stack->tx_pending = false;
		for (d = NM_TX; d < NM_DIRS; d++) {
			struct nm_kring *kring = &(d == NM_TX ? port->tx_rings :
						   port->rx_rings)[0];

			kring->ring->offset_mask = NM_PST_OFFSET_MASK;
			for (s = 0; s < kring->nr_slots; s++)
				kring->ring->slot[s].ptr = stack->goff;
		}
		return 0;
	}
	xa_for_each(&stack->socks, fd, ss) {
		xa_erase(&stack->socks, fd);
		nm_stack_sock_detach(ss);
	}
	if (stack->tx_pending) {
		struct netmap_slot *slot =
			&port->tx_rings[0].ring->slot[port->tx_rings[0].hwcur];

		/* not freed with the ring: it is TCP's */
		if (slot->buf_idx == stack->tx_partial_idx)
			slot->buf_idx = 0;
		nm_stack_hold_partial(stack);
	}
	if (stack->rx_pool && stack->nic->ops->stack_rx)
		stack->nic->ops->stack_rx(stack->nic, NULL);
	for (s = 0; s < port->rx_rings[0].nr_slots; s++)
		nm_stack_rx_return(stack, &port->rx_rings[0], s);
	kvfree(stack->rx_lent);
	stack->rx_lent = NULL;
	return 0;
}

static void nm_stack_arm_irq(struct nm_kring *kring)
{
	/* nothing to arm: the sockets' callbacks wake poll() */
}

static const struct nm_port_ops nm_stack_ops = {
	.reg = nm_stack_reg,
	.txsync = nm_stack_txsync,
	.rxsync = nm_stack_rxsync,
	.arm_irq = nm_stack_arm_irq,
};

/* before activation, port->lock held: where the slots' data areas start */
void nm_stack_set_offset(struct nm_port *port, u8 goff)
{
	nm_stack_of(port)->goff = goff;
}

/**
 * nm_stack_port - the stack port of @nic, created on first use
 * @nic: a NIC's port, its lock held
 *
 * Return: the stack port (with a reference), or an ERR_PTR.
 */
struct nm_port *nm_stack_port(struct nm_port *nic)
{
	struct nm_stack *stack;
	struct nm_port *port;
	struct nm_mem *mem;

	if (nic->stack) {
		kref_get(&nic->stack->ref);
		return nic->stack;
	}
	if (stack_slots < 64 || stack_slots > 4096)
		return ERR_PTR(-EINVAL);
	stack = kzalloc(sizeof(*stack), GFP_KERNEL);
	if (!stack)
		return ERR_PTR(-ENOMEM);
	mem = nm_mem_get();
	if (IS_ERR(mem)) {
		kfree(stack);
		return ERR_CAST(mem);
	}
	stack->mem = mem;
	stack->nic = nic;
	if (nic->ops->stack_rx)
		stack->rx_pool = nm_rx_pool_create(mem, nic->num_rx_rings *
						   nic->num_rx_desc + stack_slots);
	stack->bufs = kvcalloc(mem->buf_count, sizeof(*stack->bufs),
			       GFP_KERNEL);
	port = nm_port_alloc(nic->netdev, NULL, nic->owner, &nm_stack_ops,
			     stack);
	if (!stack->bufs || !port) {
		kfree(port);
		nm_rx_pool_free(stack->rx_pool);
		kvfree(stack->bufs);
		nm_mem_put(mem);
		kfree(stack);
		return ERR_PTR(-ENOMEM);
	}
	port->stack_port = true;
	port->num_tx_rings = 1;
	port->num_rx_rings = 1;
	port->num_tx_desc = stack_slots;
	port->num_rx_desc = stack_slots;
	stack->port = port;
	kref_init(&stack->ref);		/* the NIC's */
	xa_init(&stack->socks);
	atomic_set(&stack->held, 0);
	INIT_WORK(&stack->release, nm_stack_release_work);
	kref_get(&port->ref);		/* the stack's, put when it is freed */
	nic->stack = port;
	kref_get(&port->ref);		/* the caller's */
	return port;
}

/* the NIC is going: its stack port dies with it; held buffers live on */
void nm_stack_detach(struct nm_port *nic)
{
	struct nm_port *port = nic->stack;

	if (!port)
		return;
	nic->stack = NULL;
	nm_port_kill(port);
	nm_stack_of(port)->nic = NULL;	/* its reg is done: nothing uses it */
	nm_stack_put(nm_stack_of(port));
}

/* /proc/net/netmap: one line per stack port */
void nm_stack_show(struct seq_file *m, struct nm_port *port)
{
	struct nm_stack *stack = nm_stack_of(port);
	unsigned long fd, socks = 0;
	struct nm_stack_sock *ss;
	u32 pool_pages = 0, pool_free = 0;
	u64 pool_kept = 0;

	/* attached and still open: a closed one waits for its fd's reuse */
	xa_for_each(&stack->socks, fd, ss)
		socks += !!READ_ONCE(ss->sk->sk_socket);

	if (stack->rx_pool) {
		spin_lock_bh(&stack->rx_pool->lock);
		pool_pages = stack->rx_pool->size - stack->rx_pool->holes;
		pool_free = stack->rx_pool->nfree;
		pool_kept = stack->rx_pool->kept;
		spin_unlock_bh(&stack->rx_pool->lock);
	}
	seq_printf(m, "stack %s%s socks=%lu attached=%llu tx_slots=%llu tx_zerocopy=%llu tx_copied=%llu tx_eagain=%llu tx_no_spare=%llu tx_dropped=%llu held=%d completions=%lld copied_late=%lld rx_slots=%llu rx_zerocopy=%llu rx_bytes=%llu rx_eof=%llu rx_pool=%u rx_pool_free=%u rx_pool_kept=%llu\n",
		   NM_STACK_PREFIX, port->netdev->name, socks, stack->attached,
		   stack->tx_slots, stack->tx_zerocopy, stack->tx_copied,
		   stack->tx_eagain, stack->tx_no_spare, stack->tx_dropped,
		   atomic_read(&stack->held),
		   atomic64_read(&stack->completions),
		   atomic64_read(&stack->copied_late),
		   stack->rx_slots, stack->rx_zerocopy, stack->rx_bytes,
		   stack->rx_eof, pool_pages, pool_free, pool_kept);
}

int __init nm_stack_init(void)
{
	nm_stack_wq = alloc_workqueue("netmap_stack", 0, 0);
	return nm_stack_wq ? 0 : -ENOMEM;
}

/* every stack is gone or going (their buffers held the module) */
void nm_stack_exit(void)
{
	destroy_workqueue(nm_stack_wq);
}
