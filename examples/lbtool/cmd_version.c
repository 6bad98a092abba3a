/* lbtool version */
#include <stdio.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

int lbt_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: lbtool version\n\nPrints the version of the liblb that lbtool runs "
               "with, and the one it was built against.\n");
        return LBT_EXIT_OK;
    }
    if (argc > 1)
        return lbt_usage("version", "unexpected argument '%s'", argv[1]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", lb_version_string());
    cJSON_AddNumberToObject(o, "version_number", lb_version_number());
    cJSON_AddStringToObject(o, "built_against", LB_VERSION_STRING);
    return lbt_print(o);
}
