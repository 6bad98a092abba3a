/** @file
 * @brief The umbrella header: includes every public liblb header.
 *
 * Link with `pkg-config --cflags --libs liblb`. Each module's header documents its threading
 * contract; lb/common.h documents the error convention shared by all of them.
 */
#ifndef LB_H
#define LB_H

/* foundation */
#include "lb/common.h"
#include "lb/version.h"
#include "lb/hash.h"
#include "lb/pool.h"
#include "lb/addr.h"
#include "lb/loads.h"

/* proxy */
#include "lb/proxy.h"

/* maglev, chash */
#include "lb/maglev.h"
#include "lb/chash.h"

/* wrr, leastconn */
#include "lb/wrr.h"
#include "lb/leastconn.h"

/* health */
#include "lb/health.h"

/* zone */
#include "lb/zone.h"

/* balancer */
#include "lb/balancer.h"

/* flowtab */
#include "lb/flowtab.h"

#endif /* LB_H */
