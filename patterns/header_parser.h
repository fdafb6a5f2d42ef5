// Address and port fields of a rule header: any, literals (IPv4/IPv6, CIDR, a.b.c.d/netmask,
// lo-hi address ranges; ports N, N:M, N:, :M), $VARIABLES, [groups] (nested), top-level comma
// lists and '!' negation. Produces the ExprNode tree (as written) and the resolved set.
// Control plane only.
#pragma once

#include <string>
#include <string_view>

#include "patterns/rule.h"
#include "patterns/rule_lexer.h"
#include "patterns/vars.h"

namespace fs::patterns {

struct ExprError {
  size_t offset = 0;  // into the logical rule text; errors inside a variable's value point at
                      // the $VARIABLE that pulled it in
  std::string message;
};

// `text` is the field as lexed; it starts at `offset` in src.text() (positions of the nodes come
// from src). Group semantics follow Suricata: members without '!' are united (all addresses or
// ports when there are none), then the '!' members are removed. A field that resolves to nothing
// ("!any", "[10.0.0.0/8,!10.0.0.0/8]") is an error, as is an undefined variable.
bool ParseAddressField(std::string_view text, size_t offset, const SourceText& src,
                       const Vars& vars, AddressSpec* out, ExprError* error);
bool ParsePortField(std::string_view text, size_t offset, const SourceText& src, const Vars& vars,
                    PortSpec* out, ExprError* error);

}  // namespace fs::patterns
