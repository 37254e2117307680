/* A private X display for GUI tests and benchmarks: Xvfb on a display number
 * it picks itself (-displayfd), no TCP, stopped with the test. */
#pragma once
#include <glib.h>

typedef struct GkTestDisplay GkTestDisplay;

/* Starts Xvfb (@width x @height x 24); NULL with a message on stderr when Xvfb
 * is not installed or did not start. */
GkTestDisplay *gk_test_display_start(int width, int height);
/* ":N" for DISPLAY. */
const char *gk_test_display_name(GkTestDisplay *display);
void gk_test_display_stop(GkTestDisplay *display);
