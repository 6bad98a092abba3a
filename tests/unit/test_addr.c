/* Address text and CIDR ranges. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lbtest.h"
#include "lb/addr.h"

static void round_trip(const char *text)
{
    struct sockaddr_storage ss;
    uint32_t len;
    char buf[LB_ADDR_TEXT_MAX];
    assert_lb_ok(lb_addr_parse(text, &ss, &len));
    int n = lb_addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(buf, text);
}

static void parse_and_format(void **state)
{
    (void)state;
    round_trip("1.2.3.4:80");
    round_trip("0.0.0.0:0");
    round_trip("255.255.255.255:65535");
    round_trip("[2001:db8::1]:443");
    round_trip("[::1]:8080");
    round_trip("[::ffff:10.0.0.1]:1");
    round_trip("unix:/tmp/x.sock");
    struct sockaddr_storage ss;
    uint32_t len;
    assert_lb_ok(lb_addr_parse("10.0.0.1:8080", &ss, &len));
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    char small[5];
    assert_lb_err(lb_addr_format((struct sockaddr *)&ss, small, sizeof(small)), -ENOSPC);
}

static void bad_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    static const struct {
        const char *text;
        int err;
    } bad[] = {
        {"", LB_E_ADDR_PORT},          {"1.2.3.4", LB_E_ADDR_PORT},
        {"1.2.3.4:", LB_E_ADDR_PORT},  {"1.2.3.4:65536", LB_E_ADDR_PORT},
        {"1.2.3.4:-1", LB_E_ADDR_PORT}, {"1.2.3.4:8x", LB_E_ADDR_PORT},
        {"1.2.3:80", LB_E_ADDR_SYNTAX}, {"2001:db8::1:80", LB_E_ADDR_SYNTAX},
        {"[2001:db8::1]", LB_E_ADDR_PORT}, {"[2001:db8::1", LB_E_ADDR_SYNTAX},
        {"[1.2.3.4]:80", LB_E_ADDR_SYNTAX}, {"[]:80", LB_E_ADDR_SYNTAX},
        {"unix:", LB_E_ADDR_SYNTAX},   {"host.example:80", LB_E_ADDR_SYNTAX},
        {"1.2.3.4:123456", LB_E_ADDR_PORT},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = lb_addr_parse(bad[i].text, &ss, NULL);
        if (rc != bad[i].err)
            fail_msg("'%s': got %s want %s", bad[i].text, lb_err_name(rc),
                     lb_err_name(bad[i].err));
    }
    char longpath[200] = "unix:";
    memset(longpath + 5, 'a', 150);
    assert_lb_err(lb_addr_parse(longpath, &ss, NULL), -ENAMETOOLONG);
    assert_lb_err(lb_addr_parse(NULL, &ss, NULL), -EINVAL);
}

static void cidr(void **state)
{
    (void)state;
    lb_cidr c;
    struct sockaddr_storage ss;
    assert_lb_ok(lb_cidr_parse("10.1.2.3/8", &c));
    assert_int_equal(c.prefix_len, 8);
    assert_int_equal(c.addr[1], 0);
    assert_lb_ok(lb_addr_parse("10.200.0.1:5", &ss, NULL));
    assert_true(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_ok(lb_addr_parse("11.0.0.1:5", &ss, NULL));
    assert_false(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_ok(lb_addr_parse("[::ffff:10.9.9.9]:5", &ss, NULL));
    assert_true(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_ok(lb_cidr_parse("2001:db8::/33", &c));
    assert_lb_ok(lb_addr_parse("[2001:db8:7fff::1]:5", &ss, NULL));
    assert_true(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_ok(lb_addr_parse("[2001:db8:8000::1]:5", &ss, NULL));
    assert_false(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_ok(lb_cidr_parse("127.0.0.1", &c));
    assert_int_equal(c.prefix_len, 32);
    assert_lb_ok(lb_cidr_parse("0.0.0.0/0", &c));
    assert_lb_ok(lb_addr_parse("[::1]:5", &ss, NULL));
    assert_false(lb_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_lb_err(lb_cidr_parse("10.0.0.0/33", &c), LB_E_ADDR_SYNTAX);
    assert_lb_err(lb_cidr_parse("10.0.0.0/", &c), LB_E_ADDR_SYNTAX);
    assert_lb_err(lb_cidr_parse("10.0.0.0/x", &c), LB_E_ADDR_SYNTAX);
    assert_lb_err(lb_cidr_parse("::/129", &c), LB_E_ADDR_SYNTAX);
    assert_lb_err(lb_cidr_parse("bogus", &c), LB_E_ADDR_SYNTAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_and_format),
        cmocka_unit_test(bad_addresses),
        cmocka_unit_test(cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
