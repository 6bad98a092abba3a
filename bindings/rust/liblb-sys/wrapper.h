/* What bindgen reads: liblb's umbrella header, and <sys/socket.h> for the socket address
 * storage that lb_addr_parse() fills. */
#include <sys/socket.h>
#include <lb.h>
