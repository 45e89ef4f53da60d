/*
 * cann_header_check.cc - compares include/amq_acl_decls.h with CANN's own
 * headers. Built only against a folder of CANN headers, with
 * -DAMQ_CHECK_CANN_HEADERS (scripts/check-cann-headers.sh, or CMake's
 * AMQ_CANN_INCLUDE): any difference is a compile error naming the function,
 * value or type. It is C++ because CANN declares its error codes as
 * `static const int`, which only C++ treats as a constant expression.
 * Run, it prints what it compared.
 */
#include "amq_acl.h"
#include "amq_acl_decls.h"

#include <cstddef>
#include <cstdio>
#include <type_traits>

/* Each function's type as amq declares it must be CANN's. */
#define AMQ_FN_CHECK(ret, name, params)                                  \
    static_assert(std::is_same<amq_##name##_fn, decltype(&::name)>::value, \
                  "amq_acl_decls.h: signature of " #name " differs from CANN's header");
AMQ_ACL_FUNCS(AMQ_FN_CHECK)
#undef AMQ_FN_CHECK

/* Each AMQ_ACL_X must equal CANN's ACL_X. */
#define AMQ_VALUE_CHECK(name, value)                  \
    static_assert((long long)AMQ_ACL_##name == (long long)ACL_##name, \
                  "amq_acl_decls.h: AMQ_ACL_" #name " = " #value " differs from CANN's ACL_" #name);
AMQ_ACL_VALUES(AMQ_VALUE_CHECK)
#undef AMQ_VALUE_CHECK

/* amq passes CANN's enums as int and its handles as void *: same type, or
 * an enum of the same size and alignment. */
template <typename Cann, typename Amq>
constexpr bool same_abi() {
    return std::is_same<Cann, Amq>::value ||
           (std::is_enum<Cann>::value && std::is_integral<Amq>::value && sizeof(Cann) == sizeof(Amq) &&
            alignof(Cann) == alignof(Amq));
}
#define AMQ_TYPE_CHECK(name, type)                     \
    static_assert(same_abi<name, type>(),              \
                  "amq_acl_decls.h: type " #name " (amq: " #type ") differs from CANN's header");
AMQ_ACL_TYPES(AMQ_TYPE_CHECK)
#undef AMQ_TYPE_CHECK

/* amq's aclmdlIODims must have CANN's layout: the fake and the shim's
 * normal build use amq's. */
#define AMQ_FIELD_CHECK(field)                                                               \
    static_assert(offsetof(amq_aclmdlIODims, field) == offsetof(aclmdlIODims, field) &&       \
                      sizeof(amq_aclmdlIODims::field) == sizeof(aclmdlIODims::field),          \
                  "amq_acl_decls.h: aclmdlIODims." #field " differs from CANN's header");
AMQ_FIELD_CHECK(name)
AMQ_FIELD_CHECK(dimCount)
AMQ_FIELD_CHECK(dims)
#undef AMQ_FIELD_CHECK
static_assert(sizeof(amq_aclmdlIODims) == sizeof(aclmdlIODims),
              "amq_acl_decls.h: size of aclmdlIODims differs from CANN's header");

int main() {
    int funcs = 0, values = 0, types = 0;
#define COUNT_FN(ret, name, params) funcs++;
    AMQ_ACL_FUNCS(COUNT_FN)
#undef COUNT_FN
#define COUNT_VALUE(name, value) values++;
    AMQ_ACL_VALUES(COUNT_VALUE)
#undef COUNT_VALUE
#define COUNT_TYPE(name, type) types++;
    AMQ_ACL_TYPES(COUNT_TYPE)
#undef COUNT_TYPE
    std::printf("amq_acl_decls.h matches CANN's headers: %d functions, %d values, %d types and "
                "aclmdlIODims' layout\n",
                funcs, values, types);
    return 0;
}
