/* genkanctl: the admin command line; everything lives in srv-ctl.c. */
#include "srv-ctl.h"

int
main(int argc, char **argv)
{
  return srv_ctl_main(argc, argv);
}
