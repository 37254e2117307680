/* The threads that empty the notification outbox: they claim due notifications,
 * deliver them with libcurl (Slack, Teams and signed webhooks over HTTPS, e-mail
 * over SMTP with STARTTLS), and record the outcome with backoff and jitter for
 * retries. One of them also raises device-offline alerts and purges old rows. */
#pragma once
#include <glib.h>

#include "gk-config.h"
#include "srv-store.h"

typedef struct SrvNotifySender SrvNotifySender;

/* Reads the notify.* and smtp.* settings of @config (and the SMTP credentials
 * file it names, which must be 0600) and starts notify.senders threads.
 * FALSE-ish (NULL) with a clear error for a bad setting. */
SrvNotifySender *srv_notify_sender_start(SrvStore *store, const GkConfig *config, GError **error);
/* Something was queued: look now rather than at the next poll. Thread-safe;
 * NULL is allowed. */
void srv_notify_sender_wake(SrvNotifySender *sender);
/* Stops the threads (an attempt in flight is cut short and stays due) and
 * frees the sender. NULL is allowed. */
void srv_notify_sender_stop(SrvNotifySender *sender);
