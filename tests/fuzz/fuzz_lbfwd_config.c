/* Fuzz harness: lbfwd's configuration parser (INI text through libinih, every setting's value
 * grammar, target specifications, durations) and the whole-configuration validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbfwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct lbf_config cfg;
    struct lbf_cfg_error err;
    lbf_config_init(&cfg);
    if (lbf_config_parse_text(&cfg, text, "fuzz.ini", &err) == 0)
        (void)lbf_config_validate(&cfg, &err);
    lbf_config_free(&cfg);

    /* each line alone, as a flag value would arrive: in order, on one configuration, as flags
     * apply one after the other */
    lbf_config_init(&cfg);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct lbf_target_conf tc;
        char msg[256];
        uint32_t ms;
        (void)lbf_parse_target_spec(line, &tc, msg, sizeof(msg));
        (void)lbf_parse_duration(line, &ms);
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            (void)lbf_config_set(&cfg, line, eq + 1, 1, &err);
        }
    }
    lbf_config_free(&cfg);
    free(text);
    return 0;
}
