/* SPDX-License-Identifier: Apache-2.0 */
/* stop.h: the time limit and stop signals shared by the race helpers
 * (swapper, attacker): a monotonic clock in seconds, and SIGTERM, SIGINT
 * and SIGHUP turned into a request to stop that the main loop checks, so a
 * helper always ends with its summary printed and its attack undone.
 * Header-only (each helper is one .c file); nothing here may exit.
 */
#ifndef TU_TEST_STOP_H
#define TU_TEST_STOP_H

#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* CLOCK_MONOTONIC in seconds: a vDSO call, cheap enough for every turn. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
