# A small TOML serialiser, enough for the settings of private-nix-cache.
# Used by the evaluation tests in place of nixpkgs' `formats.toml` (which
# needs a build); it prints the file the module would hand to the service.
#
# Layout: plain keys first, then tables (`[a.b]`), then arrays of tables
# (`[[a.b]]`); keys sorted, as Nix sorts attribute names.
{ lib }:
let
  inherit (lib)
    all
    attrNames
    concatMapStringsSep
    concatStringsSep
    filter
    isAttrs
    isList
    ;

  bareKey = k: builtins.match "[A-Za-z0-9_-]+" k != null;
  key = k: if bareKey k then k else string k;
  headerPath = path: concatMapStringsSep "." key path;

  # Basic strings: escape what TOML requires, keep everything else as is.
  escapeChar =
    c:
    {
      "\"" = "\\\"";
      "\\" = "\\\\";
      "\n" = "\\n";
      "\r" = "\\r";
      "\t" = "\\t";
    }
    .${c} or c;
  string = s: "\"${concatMapStringsSep "" escapeChar (lib.stringToCharacters s)}\"";

  isTable = v: isAttrs v && !(lib.isDerivation v);
  isTableArray = v: isList v && v != [ ] && all isTable v;
  isPlain = v: !(isTable v) && !(isTableArray v);

  value =
    path: v:
    if v == null then
      throw "TOML has no null: remove ${headerPath path} or give it a value"
    else if builtins.isBool v then
      (if v then "true" else "false")
    else if builtins.isInt v then
      toString v
    else if builtins.isFloat v then
      toString v
    else if builtins.isString v then
      string v
    else if builtins.isPath v then
      string (toString v)
    else if lib.isDerivation v then
      string "${v}"
    else if isList v then
      "[" + concatMapStringsSep ", " (value path) v + "]"
    else if isAttrs v then
      "{ " + concatMapStringsSep ", " (k: "${key k} = ${value (path ++ [ k ]) v.${k}}") (attrNames v) + " }"
    else
      throw "cannot write ${builtins.typeOf v} at ${headerPath path} as TOML";

  # The body of one table: its plain keys, then sub-tables, then arrays of tables.
  body =
    path: attrs:
    let
      names = attrNames attrs;
      plain = filter (k: isPlain attrs.${k}) names;
      tables = filter (k: isTable attrs.${k}) names;
      tableArrays = filter (k: isTableArray attrs.${k}) names;
      lines = map (k: "${key k} = ${value (path ++ [ k ]) attrs.${k}}\n") plain;
      table =
        k:
        let
          p = path ++ [ k ];
        in
        "\n[${headerPath p}]\n" + body p attrs.${k};
      tableArray =
        k:
        let
          p = path ++ [ k ];
        in
        concatMapStringsSep "" (t: "\n[[${headerPath p}]]\n" + body p t) attrs.${k};
    in
    concatStringsSep "" (lines ++ map table tables ++ map tableArray tableArrays);
in
{
  # render : attrset -> string (a whole TOML document)
  render = attrs: lib.removePrefix "\n" (body [ ] attrs);
}
