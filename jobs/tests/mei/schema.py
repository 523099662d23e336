"""Checks that the MEI RelaxNG schema scripts/build-mei-schema.sh builds says what MEI's compiled
ODD says. Run under the schema's own venv (lxml, Verovio 4.5.1), the ODD beside the RNG.

Usage: python schema.py RNG structure
       python schema.py RNG mutations VALID_MEI
       python schema.py RNG verovio VALID_MEI
Prints one JSON object per check: {"check", "ok", "detail"}.

- structure: the RNG's elements, attribute classes, model classes, macros and attributes against
  the ODD's specifications, counted; and for every element, the attribute names and the child
  element names the RNG allows against those the ODD gives it (its own attDefs and those of its
  attribute classes, read again here from the ODD; its content's references with model classes
  and macros expanded). The constraintSpecs (Schematron) are counted: they are not checked.
- mutations: VALID_MEI (MEI Encoding's output) validates; each mutation of it is refused with a
  message naming the culprit, and the same edit with a valid value (its control) is accepted, so
  the refusal is for the mutation and nothing else.
- verovio: Verovio 4.5.1 writes MEI 5.0 from PAE, ABC, Humdrum and VALID_MEI; each declares 5.0
  and validates.
"""

import copy
import io
import json
import os
import sys

import lxml.etree as ET

TEI = "http://www.tei-c.org/ns/1.0"
RNG = "http://relaxng.org/ns/structure/1.0"
MEI = "http://www.music-encoding.org/ns/mei"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"


def t(name):
    return f"{{{TEI}}}{name}"


def r(name):
    return f"{{{RNG}}}{name}"


def report(check, ok, detail):
    print(json.dumps({"check": check, "ok": bool(ok), "detail": detail}))


# The ODD's side, read independently of scripts/lib/odd2rng.py -------------------------------------


class Odd:
    def __init__(self, path):
        spec = ET.parse(path).find(f".//{t('schemaSpec')}")
        self.prefix = spec.get("prefix", "")
        kids = [k for k in spec if isinstance(k.tag, str)]
        self.elements = {k.get("ident"): k for k in kids if k.tag == t("elementSpec")}
        self.atts = {k.get("ident"): k for k in kids
                     if k.tag == t("classSpec") and k.get("type") == "atts"}
        self.models = {k.get("ident"): k for k in kids
                       if k.tag == t("classSpec") and k.get("type") == "model"}
        self.macros = {k.get("ident"): k for k in kids if k.tag in (t("macroSpec"), t("dataSpec"))}
        self.att_defs = list(spec.iter(t("attDef")))
        self.constraints = list(spec.iter(t("constraintSpec")))
        self.svg_roots = {m.get("prefix", "") + "svg" for m in spec.iter(t("moduleRef"))
                          if "svg" in (m.get("url") or "")}
        self.members = {}  # model class -> its members' idents
        for ident, member in [*self.elements.items(), *self.models.items()]:
            for key in self.member_of(member):
                self.members.setdefault(key, []).append(ident)
        self.model_extra = {}  # model class -> refs a moduleRef adds to it
        for define in spec.iter(r("define")):
            ident = define.get("name")[len(self.prefix):]
            self.model_extra.setdefault(ident, []).extend(
                k.get("name") for k in define if k.tag == r("ref"))

    @staticmethod
    def member_of(spec):
        return [m.get("key") for m in spec.findall(f"{t('classes')}/{t('memberOf')}")]

    def attributes(self, ident):
        spec = self.elements[ident]
        names = {d.get("ident") for d in spec.iter(t("attDef"))}
        seen, todo = set(), self.member_of(spec)
        while todo:
            key = todo.pop()
            if key in self.atts and key not in seen:
                seen.add(key)
                names |= {d.get("ident") for d in self.atts[key].iter(t("attDef"))}
                todo.extend(self.member_of(self.atts[key]))
        return {"{%s}%s" % ({"xml": "http://www.w3.org/XML/1998/namespace",
                             "xlink": "http://www.w3.org/1999/xlink"}[n.split(":")[0]],
                            n.split(":")[1]) if ":" in n else n for n in names}

    def model_members(self, key, seen):
        out = set()
        for ident in self.members.get(key, []):
            out |= self.names(ident, seen)
        for ref in self.model_extra.get(key, []):
            out |= self.names(ref, seen)
        return out

    def names(self, ident, seen):
        """The element names a reference to ident stands for."""
        if ident in self.svg_roots:
            return {"{http://www.w3.org/2000/svg}svg"}
        if ident in self.elements:
            return {f"{{{MEI}}}{ident}"}
        if ident in seen:
            return set()
        seen = seen | {ident}
        if ident in self.models:
            return self.model_members(ident, seen)
        if ident in self.macros:
            return self.content_names(self.macros[ident], seen)
        raise KeyError(ident)

    def content_names(self, spec, seen=frozenset()):
        out = set()
        for content in spec.findall(t("content")):
            for node in content.iter():
                key = node.get("name") if node.tag == r("ref") else (
                    node.get("key") if node.tag in (t("macroRef"), t("elementRef"), t("classRef"))
                    else None)
                if key is not None:
                    out |= self.names(key, seen)
                elif node.tag == r("element"):
                    out.add("*any*")  # macro.anyXML: any element outside MEI and SVG
                    break
        return out


# The RNG's side ---------------------------------------------------------------------------------


class Grammar:
    def __init__(self, path):
        self.root = ET.parse(path).getroot()
        self.ns = self.root.get("ns")
        self.defines = {d.get("name"): d for d in self.root.findall(r("define"))}
        self.elements = {}
        for define in self.defines.values():
            for element in define.iter(r("element")):
                if element.get("name"):
                    self.elements.setdefault(element.get("name"), []).append(element)

    def walk(self, node, seen):
        """The attribute and element patterns reachable from node's children, not entering
        elements."""
        for kid in node:
            if not isinstance(kid.tag, str):
                continue
            if kid.tag in (r("attribute"), r("element")):
                yield kid
            elif kid.tag == r("ref"):
                name = kid.get("name")
                if name not in seen:
                    seen.add(name)
                    yield from self.walk(self.defines[name], seen)
            else:
                yield from self.walk(kid, seen)

    @staticmethod
    def qname(pattern, default_ns):
        if pattern.get("name") is not None:
            ns = pattern.get("ns", default_ns)
            return f"{{{ns}}}{pattern.get('name')}" if ns else pattern.get("name")
        name = pattern.find(r("name"))
        if name is not None:
            return f"{{{name.get('ns')}}}{name.text}"
        nsname = pattern.find(r("nsName"))
        if nsname is not None:
            return "{%s}*" % nsname.get("ns")
        return "*any*"

    def allowed(self, element):
        atts, kids = set(), set()
        for pattern in self.walk(element, set()):
            if pattern.tag == r("attribute"):
                atts.add(self.qname(pattern, ""))
            else:
                kids.add(self.qname(pattern, self.ns))
        return atts, kids


WRAPPERS = {"optional", "zeroOrMore", "oneOrMore", "group", "choice", "list", "name"}


def signature(nodes, prefix):
    """The leaves of a value's pattern: refs (by ODD name), data types and params, values; each
    once (a list of one or two items repeats its item)."""
    out = []
    for node in nodes:
        for d in node.iter():
            if not isinstance(d.tag, str) or ET.QName(d).namespace != RNG:
                continue
            kind = ET.QName(d).localname
            if kind in WRAPPERS:
                continue
            label = d.get("name") or d.get("type") or ""
            if kind == "ref" and label.startswith(prefix):
                label = label[len(prefix):]
            out.append((kind, label, (d.text or "").strip() if kind in ("param", "value") else ""))
    return sorted(set(out))


def odd_value(odd, att_def):
    val_list = att_def.find(t("valList"))
    datatype = att_def.find(t("datatype"))
    values = [("value", "", v.get("ident")) for v in val_list.findall(t("valItem"))] \
        if val_list is not None else []
    typed = signature(list(datatype), odd.prefix) if datatype is not None else []
    kind = val_list.get("type") if val_list is not None else None
    if kind == "closed":
        return sorted(set(values))
    if kind == "semi":
        return sorted(set(values + (typed or [("text", "", "")])))
    return typed or [("text", "", "")]


def macro_signature(spec, prefix):
    """A macro's leaves as the RNG writes them: valItems as values (a semi-open list also takes
    any token), macroRefs as refs; a macro with no content matches nothing."""
    content = spec.find(t("content"))
    if content is None:
        return [("notAllowed", "", "")]
    out = set(signature(list(content), prefix))
    for d in content.iter():
        if d.tag == t("valItem"):
            out.add(("value", "", d.get("ident")))
        elif d.tag == t("valList") and d.get("type") == "semi":
            out.add(("data", "token", ""))
        elif d.tag in (t("macroRef"), t("elementRef"), t("classRef")):
            out.add(("ref", d.get("key"), ""))
    return sorted(out)


def rng_value(pattern):
    return signature([k for k in pattern if isinstance(k.tag, str)], "mei_")


def attribute_pairs(odd, grammar):
    """(owner ident, attDef, the RNG attribute pattern) for every attDef."""
    for owner in [*odd.atts, *odd.elements]:
        spec = odd.atts.get(owner) if owner in odd.atts else odd.elements[owner]
        define = grammar.defines[odd.prefix + owner + (".attributes" if owner in odd.atts else "")]
        patterns = {}
        for a in define.iter(r("attribute")):
            name = a.get("name") or "%s:%s" % (
                {"http://www.w3.org/XML/1998/namespace": "xml",
                 "http://www.w3.org/1999/xlink": "xlink"}[a.find(r("name")).get("ns")],
                a.find(r("name")).text)
            patterns[name] = a
        for att_def in spec.iter(t("attDef")):
            yield owner, att_def, patterns.get(att_def.get("ident"), ET.Element("missing"))


def structure(rng_path):
    odd = Odd(os.path.join(os.path.dirname(rng_path), "mei-all_compiled.odd"))
    grammar = Grammar(rng_path)
    named = set(grammar.elements)
    report("every elementSpec is one element of the grammar",
           named == set(odd.elements) and all(len(v) == 1 for v in grammar.elements.values()),
           {"ODD": len(odd.elements), "RNG": len(named),
            "missing": sorted(set(odd.elements) - named),
            "extra": sorted(named - set(odd.elements))})
    defines = set(grammar.defines)
    for label, idents, suffix in [("attribute class", odd.atts, ".attributes"),
                                  ("model class", odd.models, ""), ("macro", odd.macros, "")]:
        wanted = {odd.prefix + i + suffix for i in idents}
        report(f"every {label} is a define", wanted <= defines,
               {"ODD": len(idents), "missing": sorted(wanted - defines)})
    attributes = [a for a in grammar.root.iter(r("attribute")) if a.find(r("anyName")) is None]
    report("every attDef is one attribute pattern", len(attributes) == len(odd.att_defs),
           {"ODD attDefs": len(odd.att_defs), "RNG attributes": len(attributes)})
    bad_atts, bad_kids = {}, {}
    for ident in odd.elements:
        atts, kids = grammar.allowed(grammar.elements[ident][0])
        if atts != odd.attributes(ident):
            bad_atts[ident] = {"missing": sorted(odd.attributes(ident) - atts),
                               "extra": sorted(atts - odd.attributes(ident))}
        want = odd.content_names(odd.elements[ident])
        if kids != want:
            bad_kids[ident] = {"missing": sorted(want - kids), "extra": sorted(kids - want)}
    report("each element's attributes are those of the ODD", not bad_atts, bad_atts)
    bad_values = {}
    for owner, att_def, pattern in attribute_pairs(odd, grammar):
        want, got = odd_value(odd, att_def), rng_value(pattern)
        if want != got:
            bad_values[f"{owner}/@{att_def.get('ident')}"] = {"ODD": want, "RNG": got}
    report("each attribute's values (closed and semi-open valLists, datatypes) are the ODD's",
           not bad_values, dict(list(bad_values.items())[:10]))
    bad_macros = {}
    for ident, spec in odd.macros.items():
        want = macro_signature(spec, odd.prefix)
        got = rng_value(grammar.defines[odd.prefix + ident])
        if want != got:
            bad_macros[ident] = {"ODD": want, "RNG": got}
    report("each macro (datatypes and their valLists) is the ODD's", not bad_macros,
           dict(list(bad_macros.items())[:10]))
    report("each element's children are those of the ODD", not bad_kids, bad_kids)
    report("Schematron is not checked", True,
           f"{len(odd.constraints)} constraintSpecs of the ODD are Schematron, not RELAX NG")


# Mutations --------------------------------------------------------------------------------------


def first(doc, name):
    return next(doc.iter(f"{{{MEI}}}{name}"))


def set_att(name, att, value):
    return lambda d: first(d, name).set(att, value)


def drop_att(name, att):
    return lambda d: first(d, name).attrib.pop(att)


def add_child(parent, child):
    return lambda d: first(d, parent).append(ET.Element(f"{{{MEI}}}{child}"))


# (check, mutation, messages it must give, control: the like edit that is valid, made to the
# unmutated document: another value, an optional attribute dropped, an allowed child or place)
MUTATIONS = [
    ("an unknown element", add_child("syllable", "bogus"),
     ["Element syllable has extra content: bogus"], add_child("syllable", "neume")),
    ("an unknown attribute", set_att("nc", "bogus", "1"),
     ["Invalid attribute bogus for element nc"], set_att("nc", "label", "1")),
    ("a value outside a closed valList (clef/@shape, data.CLEFSHAPE)",
     set_att("clef", "shape", "Q"),
     ["Invalid attribute shape for element clef"], set_att("clef", "shape", "F")),
    ("a value outside a closed valList (nc/@pname, data.PITCHNAME)", set_att("nc", "pname", "h"),
     ["Invalid attribute pname for element nc"], set_att("nc", "pname", "g")),
    ("an undeclared MEI version (mei/@meiversion 5.0.0-dev)",
     set_att("mei", "meiversion", "5.0.0-dev"),
     ["Invalid attribute meiversion for element mei"], set_att("mei", "meiversion", "5.0")),
    ("a required attribute missing (colLayout/@cols)", drop_att("colLayout", "cols"),
     ["Element colLayout failed to validate attributes"], drop_att("colLayout", XML_ID)),
    ("a required attribute missing (cb/@n)", drop_att("cb", "n"),
     ["Element cb failed to validate attributes"], drop_att("cb", XML_ID)),
    ("a child not allowed in its parent (staff in nc)", add_child("nc", "staff"),
     ["Element nc has extra content: staff"], add_child("section", "staff")),
    ("a child not allowed in its parent (syllable in nc)", add_child("nc", "syllable"),
     ["Element nc has extra content: syllable"], add_child("layer", "syllable")),
    ("a non-integer where an integer is due (colLayout/@cols, positiveInteger)",
     set_att("colLayout", "cols", "1.5"),
     ["Type positiveInteger doesn't allow value '1.5'",
      "Invalid attribute cols for element colLayout"],
     set_att("colLayout", "cols", "15")),
    ("a non-integer where an integer is due (nc/@oct, data.OCTAVE)", set_att("nc", "oct", "four"),
     ["Invalid attribute oct for element nc"], set_att("nc", "oct", "4")),
    ("an integer out of range (nc/@oct above data.OCTAVE's 9)", set_att("nc", "oct", "10"),
     ["Invalid attribute oct for element nc"], set_att("nc", "oct", "9")),
]


def messages(schema, doc):
    valid = schema.validate(doc)
    return valid, [e.message for e in schema.error_log]


def mutations(rng_path, mei_path):
    schema = ET.RelaxNG(ET.parse(rng_path))
    base = ET.parse(mei_path)
    valid, errors = messages(schema, base)
    report("the unmutated document validates", valid, errors[:5])
    if not valid:
        return
    for check, mutate, expected, control in MUTATIONS:
        doc = copy.deepcopy(base)
        mutate(doc)
        valid, errors = messages(schema, doc)
        missing = [m for m in expected if m not in errors]
        fixed = copy.deepcopy(base)
        control(fixed)
        control_valid, control_errors = messages(schema, fixed)
        report(f"refuses {check}", not valid and not missing and control_valid,
               {"refused": not valid, "messages": errors[:4], "expected": expected,
                "control valid": control_valid, "control messages": control_errors[:3]})


# Verovio's MEI 5.0 ------------------------------------------------------------------------------

SOURCES = {
    "PAE": "@clef:G-2\n@keysig:xFC\n@timesig:3/4\n@data:'4A/8BB{AG}/4.F8E{'D'C}/''2C-4''D/2.C//\n",
    "ABC": "X:1\nT:Tune\nM:6/8\nL:1/8\nK:D\n|:A|dfa agf|g2e fdB|(3ABc d2 e|f2d ecA:|\n"
           "w: la la la\n",
    "Humdrum": "**kern\t**kern\n*clefF4\t*clefG2\n*M4/4\t*M4/4\n=1\t=1\n4C\t4e\n4D\t4f#\n"
               "2E;\t(8g\n.\t8a)\n.\t4b\n==\t==\n*-\t*-\n",
}


def verovio_exports(rng_path, mei_path):
    import verovio

    verovio.enableLog(verovio.LOG_OFF)
    schema = ET.RelaxNG(ET.parse(rng_path))
    with open(mei_path, encoding="utf-8") as f:
        sources = {**SOURCES, "MEI Encoding's output": f.read()}
    for label, source in sources.items():
        tk = verovio.toolkit()
        loaded = tk.loadData(source)
        doc = ET.parse(io.BytesIO(tk.getMEI().encode("utf-8")))
        valid, errors = messages(schema, doc)
        declared = doc.getroot().get("meiversion")
        elements = sorted({ET.QName(e).localname for e in doc.iter() if isinstance(e.tag, str)})
        report(f"Verovio {tk.getVersion()}'s MEI from {label} validates",
               loaded and declared == "5.0" and valid,
               {"declared": declared, "messages": errors[:5], "elements": elements})


def main(argv):
    rng_path, mode, rest = argv[0], argv[1], argv[2:]
    {"structure": structure, "mutations": mutations, "verovio": verovio_exports}[mode](
        rng_path, *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
