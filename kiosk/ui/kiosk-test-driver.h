/* The test interface of the app (--test-driver): one command per stdin line,
 * one JSON answer per stdout line. tests/e2e drives the real app with it:
 * actions, frames for the scanner, visitor input, state, screenshots. */
#pragma once
#include "kiosk-app.h"

G_BEGIN_DECLS

/* Starts reading stdin on the main loop; end of input quits the app. */
void kiosk_test_driver_start(KioskApp *app);

G_END_DECLS
