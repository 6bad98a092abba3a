/* A program that uses an installed liblb through pkg-config only. */
#include <stdio.h>
#include <string.h>

#include <lb.h>

int main(void)
{
    if (lb_version_number() != LB_VERSION_NUMBER) {
        fprintf(stderr, "header %s, library %s\n", LB_VERSION_STRING, lb_version_string());
        return 1;
    }
    lb_pool *pool;
    if (lb_pool_new(&pool))
        return 1;
    if (lb_pool_add(pool, 1, "a", 1, 1, 0) || lb_pool_add(pool, 2, "b", 1, 1, 0))
        return 1;
    int dup = lb_pool_add(pool, 3, "a", 1, 1, 0);
    if (dup != LB_E_POOL_DUPLICATE_KEY || strcmp(lb_err_name(dup), "LB_E_POOL_DUPLICATE_KEY"))
        return 1;
    printf("liblb %s: %zu targets, hash %016llx\n", lb_version_string(), lb_pool_count(pool),
           (unsigned long long)lb_hash_key("x", 1, 0));
    lb_pool_free(pool);
    return 0;
}
