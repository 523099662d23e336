"""Converts a compiled ODD (a TEI schemaSpec with every module, class and macro resolved, as MEI's
build writes `mei-all_compiled.odd`) into a RELAX NG grammar (XML syntax).

Usage: python odd2rng.py COMPILED_ODD OUT_RNG [--svg-any]
Prints one JSON object on stdout: what the ODD declares and what the grammar holds, counted.

The facts of the conversion follow TEI's ODD processing (odd2relax); the code is ours:
- every elementSpec is a define `<prefix><ident>` holding an `<element>` with the spec's content
  (inline RELAX NG and the TEI "pure ODD" constructs: alternate, sequence, elementRef, classRef,
  macroRef, dataRef, textNode, empty, valList) and its attributes: its own attDefs and those of
  every attribute class it belongs to, directly or through other attribute classes;
- every model class is a define choosing among its members (elements and model classes), or
  `notAllowed` when it has none;
- every macroSpec (and dataSpec) is a define of its content;
- an attDef is an `attribute` (optional unless usage="req") whose value is its closed valList's
  values, its semi-open valList's values or its datatype, or else its datatype (a list when its
  maxOccurs is above 1), or else any text;
- the schemaSpec's @start names the start elements.
Schematron (constraintSpec) is not RELAX NG: it is counted and left out.
A moduleRef to an external RELAX NG grammar (mei-all's SVG 1.1) is not in the ODD: with
--svg-any each pattern it contributes accepts any element in its namespace
(http://www.w3.org/2000/svg), and the counts say so; without it the conversion fails.
Any construct this script does not know stops the conversion: nothing is dropped silently.
"""

import json
import sys

import lxml.etree as ET

TEI = "http://www.tei-c.org/ns/1.0"
RNG = "http://relaxng.org/ns/structure/1.0"
XSD = "http://www.w3.org/2001/XMLSchema-datatypes"
SVG = "http://www.w3.org/2000/svg"
# Prefixes an attDef's ident may carry.
PREFIXES = {"xml": "http://www.w3.org/XML/1998/namespace", "xlink": "http://www.w3.org/1999/xlink"}
UNBOUNDED = "unbounded"
# The define standing for an SVG grammar's root (svg:svg with any attributes and content).
ANY_SVG = "any_svg"
EXTERNAL = "references to SVG's root (svg:svg with any content)"


class OddError(Exception):
    pass


def t(name):
    return f"{{{TEI}}}{name}"


def r(name):
    return f"{{{RNG}}}{name}"


def local(node):
    return ET.QName(node).localname


def children(node):
    """Element children, without comments and processing instructions."""
    return [c for c in node if isinstance(c.tag, str)]


def rng(kind, *kids, **attrs):
    node = ET.Element(r(kind), attrs)
    for kid in kids:
        node.append(kid)
    return node


def occurs(node, patterns):
    """Wraps patterns for a pure-ODD construct's @minOccurs/@maxOccurs."""
    lo = int(node.get("minOccurs", "1"))
    hi = node.get("maxOccurs", "1")
    return repeat(patterns, lo, hi)


def repeat(patterns, lo, hi):
    def one():
        return patterns[0] if len(patterns) == 1 else rng("group", *patterns)

    def copy():
        return [ET.fromstring(ET.tostring(p)) for p in patterns]

    if hi != UNBOUNDED:
        hi = int(hi)
        if hi < lo or hi < 1:
            raise OddError(f"bad occurrence range {lo}..{hi}")
    if (lo, hi) == (1, 1):
        return patterns
    if (lo, hi) == (0, 1):
        return [rng("optional", one())]
    if (lo, hi) == (0, UNBOUNDED):
        return [rng("zeroOrMore", one())]
    if (lo, hi) == (1, UNBOUNDED):
        return [rng("oneOrMore", one())]
    out = []
    for _ in range(lo):
        out.extend(copy())
    if hi == UNBOUNDED:
        out.append(rng("zeroOrMore", rng("group", *copy())))
    else:
        for _ in range(hi - lo):
            out.append(rng("optional", rng("group", *copy())))
    return out


class Converter:
    def __init__(self, odd, svg_any):
        specs = odd.findall(f".//{t('schemaSpec')}")
        if len(specs) != 1:
            raise OddError(f"expected one schemaSpec, found {len(specs)}")
        self.spec = specs[0]
        self.prefix = self.spec.get("prefix", "")
        self.ns = self.spec.get("ns")
        if not self.ns:
            raise OddError("the schemaSpec names no namespace")
        self.svg_any = svg_any
        self.elements, self.atts, self.models, self.macros = {}, {}, {}, {}
        self.counts = {"constraintSpec (Schematron, not checked)": 0}
        for node in children(self.spec):
            kind = local(node)
            ident = node.get("ident")
            if node.get("mode") not in (None, "add", "replace") and kind != "constraintSpec":
                raise OddError(f"{kind} {ident} has mode {node.get('mode')}: not a compiled ODD")
            if kind == "elementSpec":
                self.elements[ident] = node
            elif kind == "classSpec" and node.get("type") == "atts":
                self.atts[ident] = node
            elif kind == "classSpec" and node.get("type") == "model":
                self.models[ident] = node
            elif kind in ("macroSpec", "dataSpec"):
                self.macros[ident] = node
            elif kind in ("constraintSpec", "moduleSpec", "moduleRef"):
                pass
            else:
                raise OddError(f"unknown specification {kind} {ident}")
        names = [*self.elements, *self.atts, *self.models, *self.macros]
        if len(set(names)) != len(names):
            raise OddError("two specifications share an ident")
        self.counts["constraintSpec (Schematron, not checked)"] = len(
            self.spec.findall(f".//{t('constraintSpec')}")
        )
        # Members of each class: memberOf/@key names the class.
        self.members = {ident: [] for ident in [*self.atts, *self.models]}
        for owner in [*self.elements.values(), *self.atts.values(), *self.models.values()]:
            for member_of in owner.findall(f"{t('classes')}/{t('memberOf')}"):
                key = member_of.get("key")
                if key not in self.members:
                    raise OddError(f"{owner.get('ident')} is a member of unknown class {key}")
                if set(member_of.attrib) - {"key"}:
                    raise OddError(f"memberOf {key} with {dict(member_of.attrib)} is not supported")
                if owner.get("type") and owner.get("type") != self.kind_of(key):
                    raise OddError(f"{owner.get('type')} class {owner.get('ident')} is a member "
                                   f"of {key}")
                self.members[key].append(owner)
        self.external = {}  # model class -> SVG roots it takes, from moduleRefs
        self.svg_refs = set()  # names of SVG's root element pattern in the SVG moduleRef
        self.counts[EXTERNAL] = 0
        for module in self.spec.findall(t("moduleRef")):
            self.module_ref(module)

    def kind_of(self, class_ident):
        return "atts" if class_ident in self.atts else "model"

    def name(self, ident):
        return self.prefix + ident

    def ref(self, ident):
        if ident in self.atts:
            raise OddError(f"a content model refers to attribute class {ident}")
        if ident in self.svg_refs:
            self.counts[EXTERNAL] += 1
            return rng("ref", name=ANY_SVG)
        if ident not in self.elements and ident not in self.models and ident not in self.macros:
            raise OddError(f"a content model refers to {ident}, which the ODD does not declare")
        return rng("ref", name=self.name(ident))

    def module_ref(self, module):
        if module.get("key"):
            raise OddError(f"moduleRef key={module.get('key')} in a compiled ODD")
        url, prefix = module.get("url"), module.get("prefix", "")
        if "svg" in url.lower() and self.svg_any:
            self.svg_refs.add(prefix + "svg")
        for define in module.iter(r("define")):
            name = define.get("name")
            if not name.startswith(self.prefix) or define.get("combine") != "choice":
                raise OddError(f"moduleRef {url} adds define {name}: not supported")
            ident = name[len(self.prefix):]
            if ident not in self.models:
                raise OddError(f"moduleRef {url} extends {ident}, not a model class")
            for kid in children(define):
                ref = kid.get("name", "")
                if local(kid) != "ref":
                    raise OddError(f"moduleRef {url} adds {ET.tostring(kid)!r}: not supported")
                if ref not in self.svg_refs:
                    raise OddError(
                        f"{ident} takes {ref} from {url}, which the ODD does not hold "
                        "(--svg-any accepts any svg:svg for SVG's root)"
                    )
                self.external.setdefault(ident, []).append(ref)

    # Content models --------------------------------------------------------------------------

    def content(self, nodes, where):
        out = []
        for node in nodes:
            out.extend(self.pattern(node, where))
        return out

    def pattern(self, node, where):
        ns, kind = ET.QName(node).namespace, local(node)
        if ns == RNG:
            return [self.rng_pattern(node, where)]
        if ns != TEI:
            raise OddError(f"{where}: unknown construct {node.tag}")
        if kind in ("alternate", "sequence"):
            kids = self.content(children(node), where)
            if not kids:
                raise OddError(f"{where}: empty {kind}")
            inner = rng("choice" if kind == "alternate" else "group", *kids)
            return occurs(node, [inner])
        if kind in ("elementRef", "macroRef", "classRef", "dataRef"):
            if kind == "classRef" and node.get("expand"):
                raise OddError(f"{where}: classRef expand={node.get('expand')} is not supported")
            if kind == "dataRef" and node.get("name"):
                data = rng("data", type=node.get("name"))
                for param in node.findall(r("param")):
                    data.append(self.rng_pattern(param, where))
                return occurs(node, [data])
            if set(node.attrib) - {"key", "minOccurs", "maxOccurs"}:
                raise OddError(f"{where}: {kind} with {dict(node.attrib)} is not supported")
            return occurs(node, [self.ref(node.get("key"))])
        if kind == "textNode":
            return [rng("text")]
        if kind == "empty":
            return [rng("empty")]
        if kind == "valList":
            values = self.values(node, where)
            if node.get("type") == "semi":
                # Semi-open: other values are allowed (TEI says a processor may warn about them).
                values.append(rng("data", type="token"))
            elif node.get("type") != "closed":
                raise OddError(f"{where}: a {node.get('type')} valList as content")
            return [values]
        raise OddError(f"{where}: unknown construct tei:{kind}")

    def rng_pattern(self, node, where):
        kind = local(node)
        if kind == "ref":
            if set(node.attrib) != {"name"}:
                raise OddError(f"{where}: ref with {dict(node.attrib)}")
            return self.ref(node.get("name"))
        if kind in ("define", "grammar", "include", "externalRef", "parentRef", "start", "div"):
            raise OddError(f"{where}: rng:{kind} inside a specification")
        if kind not in (
            "element", "attribute", "group", "interleave", "choice", "optional", "zeroOrMore",
            "oneOrMore", "list", "mixed", "empty", "text", "notAllowed", "data", "value",
            "param", "except", "name", "anyName", "nsName",
        ):
            raise OddError(f"{where}: unknown construct rng:{kind}")
        copy = ET.Element(r(kind), dict(node.attrib))
        copy.text = node.text if kind in ("value", "param", "name") else None
        for kid in children(node):
            copy.extend(self.pattern(kid, where))
        if kind == "element" and node.get("name") is None and not children(node):
            raise OddError(f"{where}: an element pattern with no name")
        return copy

    # Values ----------------------------------------------------------------------------------

    def values(self, val_list, where):
        items = [item.get("ident") for item in val_list.findall(t("valItem"))]
        if not items:
            raise OddError(f"{where}: an empty valList")
        return rng("choice", *[self.value(v) for v in items])

    @staticmethod
    def value(text):
        node = rng("value")
        node.text = text
        return node

    def attribute(self, att_def, where):
        ident = att_def.get("ident")
        where = f"{where}/@{ident}"
        extra = set(att_def.attrib) - {"ident", "usage", "ns", "mode"}
        if extra or att_def.get("mode") not in (None, "add", "replace"):
            raise OddError(f"{where}: attDef with {dict(att_def.attrib)}")
        for kid in children(att_def):
            if local(kid) not in ("desc", "gloss", "remarks", "datatype", "valList", "defaultVal",
                                  "constraintSpec", "exemplum", "altIdent", "equiv"):
                raise OddError(f"{where}: unknown attDef part {local(kid)}")
        if ":" in ident:
            prefix, name = ident.split(":", 1)
            if prefix not in PREFIXES:
                raise OddError(f"{where}: unknown prefix {prefix}")
            node = rng("attribute", rng("name", ns=PREFIXES[prefix]))
            node[0].text = name
        else:
            node = rng("attribute", name=ident, ns=att_def.get("ns", ""))
        val_lists = att_def.findall(t("valList"))
        datatypes = att_def.findall(t("datatype"))
        if len(val_lists) > 1 or len(datatypes) > 1:
            raise OddError(f"{where}: several valLists or datatypes")
        val_list = val_lists[0] if val_lists else None
        datatype = datatypes[0] if datatypes else None
        typed = None
        if datatype is not None:
            kids = self.content(children(datatype), where)
            if len(kids) != 1:
                raise OddError(f"{where}: a datatype of {len(kids)} patterns")
            typed = kids[0]
        kind = val_list.get("type", "open") if val_list is not None else None
        if kind == "closed":
            value = self.values(val_list, where)
        elif kind == "semi":
            value = self.values(val_list, where)
            value.append(typed if typed is not None else rng("text"))
        elif kind in ("open", None):
            value = typed if typed is not None else rng("text")
        else:
            raise OddError(f"{where}: valList type {kind}")
        if datatype is not None:
            lo = int(datatype.get("minOccurs", "1"))
            hi = datatype.get("maxOccurs", "1")
            if (lo, hi) != (1, "1"):
                value = rng("list", *repeat([value], lo, hi))
        node.append(value)
        usage = att_def.get("usage", "opt")
        if usage not in ("req", "opt", "rec", "mwa", "rwa"):
            raise OddError(f"{where}: usage {usage}")
        return node if usage == "req" else rng("optional", node)

    def attributes(self, spec):
        """The attribute patterns of one spec's own attList, by attribute name."""
        out = {}
        lists = spec.findall(t("attList"))
        for att_list in lists:
            if att_list.get("org") not in (None, "group"):
                raise OddError(f"{spec.get('ident')}: attList org={att_list.get('org')}")
            for kid in children(att_list):
                if local(kid) != "attDef":
                    raise OddError(f"{spec.get('ident')}: attList holds {local(kid)}")
                ident = kid.get("ident")
                if ident in out:
                    raise OddError(f"{spec.get('ident')} declares @{ident} twice")
                out[ident] = self.attribute(kid, spec.get("ident"))
        return out

    def att_closure(self, spec):
        """Every attribute class spec belongs to, directly or through attribute classes."""
        seen, todo = [], [m.get("key") for m in spec.findall(f"{t('classes')}/{t('memberOf')}")]
        while todo:
            key = todo.pop(0)
            if key in self.atts and key not in seen:
                seen.append(key)
                todo.extend(
                    m.get("key") for m in self.atts[key].findall(f"{t('classes')}/{t('memberOf')}")
                )
        return seen

    # The grammar -----------------------------------------------------------------------------

    def grammar(self):
        grammar = ET.Element(r("grammar"), {"ns": self.ns, "datatypeLibrary": XSD},
                             nsmap={None: RNG})
        grammar.append(ET.Comment(" Generated by scripts/lib/odd2rng.py from a compiled ODD; "
                                  "Schematron constraints are not included. "))
        starts = (self.spec.get("start") or "").split()
        if not starts:
            raise OddError("the schemaSpec names no start element")
        grammar.append(rng("start", rng("choice", *[self.ref(s) for s in starts])))
        att_names = {}
        atts_out = 0
        for ident, spec in self.atts.items():
            own = self.attributes(spec)
            att_names[ident] = set(own)
            atts_out += len(own)
            define = rng("define", name=self.name(ident) + ".attributes")
            define.extend(list(own.values()) or [rng("empty")])
            grammar.append(define)
        for ident, spec in self.models.items():
            refs = [self.ref(m.get("ident")) for m in self.members[ident]]
            refs += [self.ref(name) for name in self.external.get(ident, [])]
            body = rng("choice", *refs) if refs else rng("notAllowed")
            grammar.append(rng("define", body, name=self.name(ident)))
        empty_macros = []
        for ident, spec in self.macros.items():
            parts = [c for c in children(spec) if local(c) == "content"]
            if len(parts) > 1:
                raise OddError(f"macro {ident} has {len(parts)} content parts")
            body = self.content(children(parts[0]), ident) if parts else []
            if not body:
                # A macro with no content is a list with no items (MEI 5.0's
                # data.STAFFITEM.neumes): nothing matches it.
                body = [rng("notAllowed")]
                empty_macros.append(ident)
            grammar.append(rng("define", *body, name=self.name(ident)))
        element_atts = 0
        for ident, spec in self.elements.items():
            if spec.get("ns") not in (None, self.ns):
                raise OddError(f"element {ident} in namespace {spec.get('ns')}")
            parts = spec.findall(t("content"))
            if len(parts) > 1:
                raise OddError(f"element {ident} has {len(parts)} content parts")
            body = self.content(children(parts[0]), ident) if parts else []
            element = rng("element", *(body or [rng("empty")]), name=ident)
            own = self.attributes(spec)
            element_atts += len(own)
            names = set(own)
            for cls in self.att_closure(spec):
                clash = names & att_names[cls]
                if clash:
                    raise OddError(f"element {ident} gets @{sorted(clash)} twice (from {cls})")
                names |= att_names[cls]
                element.append(rng("ref", name=self.name(cls) + ".attributes"))
            element.extend(own.values())
            grammar.append(rng("define", element, name=self.name(ident)))
        self.counts.update({
            "elementSpec": len(self.elements),
            "classSpec atts": len(self.atts),
            "classSpec model": len(self.models),
            "macroSpec/dataSpec": len(self.macros),
            "attDef in attribute classes": atts_out,
            "attDef in elementSpecs": element_atts,
            "attDef": len(self.spec.findall(f".//{t('attDef')}")),
            "macroSpec without content (notAllowed)": empty_macros,
        })
        return grammar

    @staticmethod
    def any_svg(grammar):
        """svg:svg holding any attributes and any content: the ODD does not hold SVG's grammar."""
        name = rng("name", ns=SVG)
        name.text = "svg"
        anything = rng("element", rng("anyName"), rng("ref", name=ANY_SVG + ".content"))
        content = rng("group",
                      rng("zeroOrMore", rng("attribute", rng("anyName"))),
                      rng("zeroOrMore", rng("choice", rng("text"), anything)))
        grammar.append(rng("define", rng("element", name, rng("ref", name=ANY_SVG + ".content")),
                           name=ANY_SVG))
        grammar.append(rng("define", content, name=ANY_SVG + ".content"))


def convert(odd_path, svg_any=False):
    odd = ET.parse(odd_path)
    converter = Converter(odd, svg_any)
    grammar = converter.grammar()
    if converter.counts[EXTERNAL]:
        Converter.any_svg(grammar)
    return grammar, converter.counts, odd


def main(argv):
    svg_any = "--svg-any" in argv
    args = [a for a in argv if a != "--svg-any"]
    if len(args) != 2:
        sys.exit(__doc__)
    try:
        grammar, counts, odd = convert(args[0], svg_any)
    except OddError as e:
        sys.exit(f"odd2rng: {e}")
    # The ODD's version: its <?TEIVERSION ...?> ("Version 5.0" for MEI 5.0's).
    version = next((pi.text.strip() for pi in odd.getroot().iter(ET.ProcessingInstruction)
                    if pi.target == "TEIVERSION"), None)
    grammar.insert(0, ET.Comment(f" Source: {args[0].rsplit('/', 1)[-1]} ({version}) "))
    ET.ElementTree(grammar).write(args[1], xml_declaration=True, encoding="utf-8",
                                  pretty_print=True)
    # The grammar must compile: lxml reports dangling refs, duplicate attributes and the like.
    ET.RelaxNG(ET.parse(args[1]))
    print(json.dumps({"version": version, **counts}))


if __name__ == "__main__":
    main(sys.argv[1:])
