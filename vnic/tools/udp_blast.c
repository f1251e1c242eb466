// SPDX-License-Identifier: GPL-2.0
/*
 * udp_blast - one UDP sender, as fast as sendto() goes, in C
 *
 * The sender of the anchor benchmark (bench/anchors.py): the same program on
 * the vNIC and on QEMU's own NICs, cheap enough per packet that the device
 * path, not the sender, is what is measured.  peer.py's udp-blast is its
 * Python twin (the sender the exercises use).  One sendto() per datagram, no
 * batching: the sockets path of the course.
 *
 *   udp_blast DST PORT SIZE SECONDS
 *
 * Prints one JSON line: sent, errors (ENOBUFS and the like: the qdisc was
 * full; counted, not fatal), seconds, pps (the sender's own clock: what the
 * receiver got is what a benchmark reports).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE	65507	/* the largest UDP payload over IPv4 */
#define BURST		256	/* sends between two looks at the clock */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static long number(const char *text, const char *what, long lo, long hi)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || *end || end == text || value < lo || value > hi) {
		fprintf(stderr, "udp_blast: %s must be a number in [%ld, %ld], not '%s'\n",
			what, lo, hi, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	static char payload[MAX_SIZE];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	unsigned long sent = 0, errors = 0;
	double start, end, seconds;
	long size;
	int fd, i;

	if (argc != 5) {
		fprintf(stderr, "usage: udp_blast DST PORT SIZE SECONDS\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "udp_blast: '%s' is not an IPv4 address\n", argv[1]);
		return 2;
	}
	dst.sin_port = htons(number(argv[2], "PORT", 1, 65535));
	size = number(argv[3], "SIZE", 0, MAX_SIZE);
	seconds = number(argv[4], "SECONDS", 1, 3600);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_blast: socket");
		return 1;
	}
	start = now();
	end = start + seconds;
	while (now() < end) {
		for (i = 0; i < BURST; i++) {
			if (sendto(fd, payload, size, 0, (struct sockaddr *)&dst,
				   sizeof(dst)) == size)
				sent++;
			else
				errors++;
		}
	}
	seconds = now() - start;
	printf("{\"sent\": %lu, \"errors\": %lu, \"seconds\": %.3f, \"pps\": %.0f}\n",
	       sent, errors, seconds, sent / seconds);
	close(fd);
	return 0;
}
