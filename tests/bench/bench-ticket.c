/* Ticket throughput: signatures/s, full verifications/s (prefix, base45, keyring,
 * Ed25519, window) and raw crypto_sign_verify_detached/s as the baseline.
 * "--quick" (CTest) runs about a second; no argument runs a few seconds. */
#include "gk-ticket.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define BENCH_NOW G_GINT64_CONSTANT(1772452800)
#define N_TICKETS 64

typedef struct {
  guint64 ops;
  double seconds;
} Rate;

static double
rate_per_s(Rate r)
{
  return r.seconds > 0 ? (double) r.ops / r.seconds : 0;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 2 || (argc == 2 && !quick)) {
    fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
    return 2;
  }
  if (sodium_init() < 0)
    return 1;
  double budget = quick ? 0.3 : 2.0; /* seconds per measurement */

  g_autoptr(GkSigningKey) key = gk_signing_key_generate(1);
  g_autoptr(GkKeyring) ring = gk_keyring_new();
  guint8 pk[32];
  gk_signing_key_public(key, pk);
  /* A realistic device keyring: current key plus a few rotated ones. */
  for (guint16 id = 2; id <= 4; id++) {
    g_autoptr(GkSigningKey) old = gk_signing_key_generate(id);
    guint8 old_pk[32];
    gk_signing_key_public(old, old_pk);
    gk_keyring_add(ring, id, old_pk);
  }
  gk_keyring_add(ring, 1, pk);

  GkTicket tickets[N_TICKETS];
  char *texts[N_TICKETS];
  for (guint i = 0; i < N_TICKETS; i++) {
    gk_ticket_init_random(&tickets[i]);
    tickets[i].site_id = i;
    tickets[i].flags = i % 2 ? GK_TICKET_FLAG_MULTI_ENTRY : 0;
    tickets[i].valid_from = BENCH_NOW - 3600;
    tickets[i].valid_until = BENCH_NOW + 3600;
  }

  guint64 failures = 0;
  Rate sign = { 0, 0 }, verify = { 0, 0 }, raw = { 0, 0 };

  /* Signing (encode incl. base45). */
  gint64 start = g_get_monotonic_time();
  do {
    for (guint i = 0; i < N_TICKETS; i++) {
      g_autoptr(GError) error = NULL;
      char *text = gk_ticket_encode(&tickets[i], key, &error);
      if (text == NULL) {
        fprintf(stderr, "bench-ticket: encode failed: %s\n", error->message);
        return 1;
      }
      if (sign.ops < N_TICKETS)
        texts[i] = text;
      else
        g_free(text);
      sign.ops++;
    }
    sign.seconds = (double) (g_get_monotonic_time() - start) / G_USEC_PER_SEC;
  } while (sign.seconds < budget);

  /* Full decode + verify. */
  start = g_get_monotonic_time();
  do {
    for (guint i = 0; i < N_TICKETS; i++) {
      GkTicket out;
      g_autoptr(GError) error = NULL;
      if (!gk_ticket_decode(texts[i], GK_TICKET_TEXT_LEN, ring, BENCH_NOW, &out, &error) ||
          memcmp(out.id, tickets[i].id, 16) != 0) {
        fprintf(stderr, "bench-ticket: verify failed: %s\n", error ? error->message : "id mismatch");
        failures++;
      }
      verify.ops++;
    }
    verify.seconds = (double) (g_get_monotonic_time() - start) / G_USEC_PER_SEC;
  } while (verify.seconds < budget);

  /* Raw Ed25519 on the same 32 signed bytes: the floor decode cannot beat. */
  guint8 msgs[N_TICKETS][32], sigs[N_TICKETS][64];
  for (guint i = 0; i < N_TICKETS; i++) {
    randombytes_buf(msgs[i], sizeof msgs[i]);
  }
  {
    guint8 seed[32], rpk[32], rsk[64];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(rpk, rsk, seed);
    for (guint i = 0; i < N_TICKETS; i++)
      crypto_sign_detached(sigs[i], NULL, msgs[i], 32, rsk);
    sodium_memzero(rsk, sizeof rsk);
    start = g_get_monotonic_time();
    do {
      for (guint i = 0; i < N_TICKETS; i++) {
        if (crypto_sign_verify_detached(sigs[i], msgs[i], 32, rpk) != 0)
          failures++;
        raw.ops++;
      }
      raw.seconds = (double) (g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    } while (raw.seconds < budget);
  }

  double s = rate_per_s(sign), v = rate_per_s(verify), r = rate_per_s(raw);
  printf("bench-ticket: %s run, %d-char tickets, libsodium %s\n", quick ? "quick" : "full",
         GK_TICKET_TEXT_LEN, sodium_version_string());
  printf("  sign (encode)            %10.0f /s  (%" G_GUINT64_FORMAT " in %.2f s)\n", s, sign.ops, sign.seconds);
  printf("  verify (full decode)     %10.0f /s  (%" G_GUINT64_FORMAT " in %.2f s)\n", v, verify.ops, verify.seconds);
  printf("  raw Ed25519 verify       %10.0f /s  (%" G_GUINT64_FORMAT " in %.2f s)\n", r, raw.ops, raw.seconds);
  printf("  decode / raw verify      %10.2f    (1.00 = no overhead beyond Ed25519)\n",
         r > 0 ? v / r : 0);
  printf("  per verify: %.1f us full, %.1f us raw\n", v > 0 ? 1e6 / v : 0, r > 0 ? 1e6 / r : 0);
  printf("  failures: %" G_GUINT64_FORMAT "\n", failures);

  for (guint i = 0; i < N_TICKETS; i++)
    g_free(texts[i]);
  return failures == 0 ? 0 : 1;
}
