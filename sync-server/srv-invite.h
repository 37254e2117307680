/* Invitation e-mails to visitors: the check of the address given when a ticket
 * is issued, the ticket's QR code as a PNG in memory, and the multipart/related
 * message that shows it inline beside the text (docs/webhooks.md, "Invitation
 * e-mails"). No I/O: the sender (srv-notify-sender.c) sends what this builds. */
#pragma once
#include <glib.h>

#include "gk-config.h"
#include "srv-notify.h"

/* Pixels per QR module in the e-mail: a version 5-7 ticket symbol comes out
 * about 300 px wide, which a phone shows whole and a kiosk camera reads. */
#define SRV_INVITE_QR_MODULE_PX 6

/* The visitor's address for an invitation: an address as e-mail targets take
 * (srv_notify_target_check), on a server that has an SMTP relay (smtp.host).
 * SRV_NOTIFY_ERROR_INVALID for the address, _CONFIG for the missing relay. */
gboolean srv_invite_address_check(const GkConfig *config, const char *address, GError **error);

/* @text's QR symbol (ECC level M, GK_QR_QUIET_ZONE modules of margin) as PNG
 * bytes of @module_px (1..GK_QR_MAX_MODULE_PX) pixels per module; never written
 * to disk, the text being a visitor's pass. *@out_side_px (may be NULL): the
 * image's width and height. GK_QR_ERROR on failure. */
GBytes *srv_invite_qr_png(const char *text, guint module_px, guint *out_side_px, GError **error);

/* The invitation e-mail of @message (kind "invitation"; @message->secrets has
 * qr_text and, when the ticket has one, reception_code): the headers of
 * srv_notify_email(), then multipart/related holding a multipart/alternative
 * (text/plain, and text/html that shows the QR code through cid:, both UTF-8
 * in base64) and the QR code as an inline image/png with a Content-ID. CRLF
 * line ends throughout. NULL with SRV_NOTIFY_ERROR_INVALID when the secrets
 * hold no QR text (cleared, or a damaged row), or GK_QR_ERROR. */
char *srv_invite_email(const SrvNotifyMessage *message, const char *from, const char *to, gint64 now,
                       GError **error);
