/* The settings an admin may set on one device remotely (docs/protocol.md,
 * "Device settings"): one declarative table and its validation. */
#pragma once
#include <glib.h>

/* Checks every key and value of @settings (string -> string; an empty value
 * means "remove"). On success fills @out_keys/@out_values (parallel, same
 * length) with what to store: the admin PIN is replaced by its Argon2id hash
 * under "admin-pin-hash". Any bad key or value fails the whole set, naming it. */
gboolean srv_device_settings_prepare(GHashTable *settings, GPtrArray *out_keys, GPtrArray *out_values,
                                     GError **error);
