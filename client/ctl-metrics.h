/* SPDX-License-Identifier: MIT */
/* ctl-metrics.h — `shmboxctl metrics`: the daemon's and every mailbox's figures for Prometheus. */
#pragma once

/*
 * ctl_metrics_run() - print the metrics of the daemon at @socket (NULL: $SHMBOX_SOCKET, else
 * the default) in the Prometheus text exposition format, on stdout, or with @output into that
 * file, replaced atomically (a temporary file beside it, then rename())
 *
 * Return: the exit status: 0; 1 after a failure, reported on stderr (with @output, a daemon
 *         that does not answer still gets a file saying shmbox_up 0).
 */
int ctl_metrics_run(const char *socket, const char *output);
