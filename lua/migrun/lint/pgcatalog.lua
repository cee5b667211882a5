--- migrun.lint.pgcatalog: what the linter knows about PostgreSQL 15's built-in functions and
-- types without a server (policy data). Generated from pg_catalog.pg_proc of PostgreSQL 15:
--   name:ARITIES[!], ARITIES = n | min-max (defaults) | * (variadic), ! = a volatile overload.
-- A connected lint asks the server instead (lint/server.lua).
local M = {}

local FUNCTIONS = [[
abbrev:1 abs:1 aclcontains:2 acldefault:2 aclexplode:1 aclinsert:2 aclitemeq:2 aclitemin:1
aclitemout:1 aclremove:2 acos:1 acosd:1 acosh:1 age:1,2 amvalidate:1! any_in:1 any_out:1
anyarray_in:1 anyarray_out:1 anyarray_send:1 anycompatible_in:1 anycompatible_out:1
anycompatiblearray_in:1 anycompatiblearray_out:1 anycompatiblearray_send:1
anycompatiblemultirange_in:3 anycompatiblemultirange_out:1 anycompatiblenonarray_in:1
anycompatiblenonarray_out:1 anycompatiblerange_in:3 anycompatiblerange_out:1 anyelement_in:1
anyelement_out:1 anyenum_in:1 anyenum_out:1 anymultirange_in:3 anymultirange_out:1
anynonarray_in:1 anynonarray_out:1 anyrange_in:3 anyrange_out:1 anytextcat:2 area:1 array_append:2
array_cat:2 array_dims:1 array_eq:2 array_fill:2,3 array_ge:2 array_gt:2 array_in:3 array_larger:2
array_le:2 array_length:2 array_lower:2 array_lt:2 array_ndims:1 array_ne:2 array_out:1
array_position:2,3 array_positions:2 array_prepend:2 array_remove:2 array_replace:3 array_send:1
array_smaller:2 array_to_json:1,2 array_to_string:2,3 array_to_tsvector:1 array_upper:2
arraycontained:2 arraycontains:2 arrayoverlap:2 ascii:1 asin:1 asind:1 asinh:1 atan:1 atan2:2
atan2d:2 atand:1 atanh:1 bit:2,3 bit_count:1 bit_in:3 bit_length:1 bit_out:1 bit_send:1 bitand:2
bitcat:2 bitcmp:2 biteq:2 bitge:2 bitgt:2 bitle:2 bitlt:2 bitne:2 bitnot:1 bitor:2 bitshiftleft:2
bitshiftright:2 bittypmodin:1 bittypmodout:1 bitxor:2 bool:1 booland_statefunc:2 booleq:2 boolge:2
boolgt:2 boolin:1 boolle:2 boollt:2 boolne:2 boolor_statefunc:2 boolout:1 boolsend:1 bound_box:2
box:1,2 box_above:2 box_above_eq:2 box_add:2 box_below:2 box_below_eq:2 box_center:1 box_contain:2
box_contain_pt:2 box_contained:2 box_distance:2 box_div:2 box_eq:2 box_ge:2 box_gt:2 box_in:1
box_intersect:2 box_le:2 box_left:2 box_lt:2 box_mul:2 box_out:1 box_overabove:2 box_overbelow:2
box_overlap:2 box_overleft:2 box_overright:2 box_right:2 box_same:2 box_send:1 box_sub:2
bpchar:1,3 bpchar_larger:2 bpchar_pattern_ge:2 bpchar_pattern_gt:2 bpchar_pattern_le:2
bpchar_pattern_lt:2 bpchar_smaller:2 bpcharcmp:2 bpchareq:2 bpcharge:2 bpchargt:2 bpchariclike:2
bpcharicnlike:2 bpcharicregexeq:2 bpcharicregexne:2 bpcharin:3 bpcharle:2 bpcharlike:2 bpcharlt:2
bpcharne:2 bpcharnlike:2 bpcharout:1 bpcharregexeq:2 bpcharregexne:2 bpcharsend:1 bpchartypmodin:1
bpchartypmodout:1 brin_bloom_summary_in:1 brin_bloom_summary_out:1 brin_bloom_summary_send:1
brin_desummarize_range:2! brin_minmax_multi_summary_in:1 brin_minmax_multi_summary_out:1
brin_minmax_multi_summary_send:1 brin_summarize_new_values:1! brin_summarize_range:2! broadcast:1
btarraycmp:2 btboolcmp:2 btbpchar_pattern_cmp:2 btcharcmp:2 btequalimage:1 btfloat48cmp:2
btfloat4cmp:2 btfloat84cmp:2 btfloat8cmp:2 btint24cmp:2 btint28cmp:2 btint2cmp:2 btint42cmp:2
btint48cmp:2 btint4cmp:2 btint82cmp:2 btint84cmp:2 btint8cmp:2 btnamecmp:2 btnametextcmp:2
btoidcmp:2 btoidvectorcmp:2 btrecordcmp:2 btrecordimagecmp:2 btrim:1,2 bttext_pattern_cmp:2
bttextcmp:2 bttextnamecmp:2 bttidcmp:2 btvarstrequalimage:1 byteacat:2 byteacmp:2 byteaeq:2
byteage:2 byteagt:2 byteain:1 byteale:2 bytealike:2 bytealt:2 byteane:2 byteanlike:2 byteaout:1
byteasend:1 cardinality:1 cash_cmp:2 cash_div_cash:2 cash_div_flt4:2 cash_div_flt8:2
cash_div_int2:2 cash_div_int4:2 cash_div_int8:2 cash_eq:2 cash_ge:2 cash_gt:2 cash_in:1 cash_le:2
cash_lt:2 cash_mi:2 cash_mul_flt4:2 cash_mul_flt8:2 cash_mul_int2:2 cash_mul_int4:2
cash_mul_int8:2 cash_ne:2 cash_out:1 cash_pl:2 cash_send:1 cash_words:1 cashlarger:2 cashsmaller:2
cbrt:1 ceil:1 ceiling:1 center:1 char:1 char_length:1 character_length:1 chareq:2 charge:2
chargt:2 charin:1 charle:2 charlt:2 charne:2 charout:1 charsend:1 chr:1 cideq:2 cidin:1 cidout:1
cidr:1 cidr_in:1 cidr_out:1 cidr_send:1 cidsend:1 circle:1,2 circle_above:2 circle_add_pt:2
circle_below:2 circle_center:1 circle_contain:2 circle_contain_pt:2 circle_contained:2
circle_distance:2 circle_div_pt:2 circle_eq:2 circle_ge:2 circle_gt:2 circle_in:1 circle_le:2
circle_left:2 circle_lt:2 circle_mul_pt:2 circle_ne:2 circle_out:1 circle_overabove:2
circle_overbelow:2 circle_overlap:2 circle_overleft:2 circle_overright:2 circle_right:2
circle_same:2 circle_send:1 circle_sub_pt:2 clock_timestamp:0! close_ls:2 close_lseg:2 close_pb:2
close_pl:2 close_ps:2 close_sb:2 col_description:2 concat:* concat_ws:* convert:3 convert_from:2
convert_to:2 cos:1 cosd:1 cosh:1 cot:1 cotd:1 cstring_in:1 cstring_out:1 cstring_send:1
current_database:0 current_query:0! current_schema:0 current_schemas:1 current_setting:1,2
current_user:0 currtid2:2! currval:1! cursor_to_xml:5! cursor_to_xmlschema:4! database_to_xml:3
database_to_xml_and_xmlschema:3 database_to_xmlschema:3 date:1 date_bin:3 date_cmp:2
date_cmp_timestamp:2 date_cmp_timestamptz:2 date_eq:2 date_eq_timestamp:2 date_eq_timestamptz:2
date_ge:2 date_ge_timestamp:2 date_ge_timestamptz:2 date_gt:2 date_gt_timestamp:2
date_gt_timestamptz:2 date_in:1 date_larger:2 date_le:2 date_le_timestamp:2 date_le_timestamptz:2
date_lt:2 date_lt_timestamp:2 date_lt_timestamptz:2 date_mi:2 date_mi_interval:2 date_mii:2
date_ne:2 date_ne_timestamp:2 date_ne_timestamptz:2 date_out:1 date_part:2 date_pl_interval:2
date_pli:2 date_send:1 date_smaller:2 date_trunc:2,3 datemultirange:*,0,1 daterange:2,3
daterange_canonical:1 daterange_subdiff:2 datetime_pl:2 datetimetz_pl:2 dcbrt:1 decode:2 degrees:1
dexp:1 diagonal:1 diameter:1 dist_bp:2 dist_bs:2 dist_cpoint:2 dist_cpoly:2 dist_lp:2 dist_ls:2
dist_pathp:2 dist_pb:2 dist_pc:2 dist_pl:2 dist_polyc:2 dist_polyp:2 dist_ppath:2 dist_ppoly:2
dist_ps:2 dist_sb:2 dist_sl:2 dist_sp:2 div:2 dlog1:1 dlog10:1 domain_in:3 dpow:2 dround:1 dsqrt:1
dtrunc:1 elem_contained_by_multirange:2 elem_contained_by_range:2 encode:2 enum_cmp:2 enum_eq:2
enum_first:1 enum_ge:2 enum_gt:2 enum_in:2 enum_larger:2 enum_last:1 enum_le:2 enum_lt:2 enum_ne:2
enum_out:1 enum_range:1,2 enum_send:1 enum_smaller:2 event_trigger_in:1 event_trigger_out:1 exp:1
extract:2 factorial:1 family:1 fdw_handler_in:1 fdw_handler_out:1 float4:1 float48div:2
float48eq:2 float48ge:2 float48gt:2 float48le:2 float48lt:2 float48mi:2 float48mul:2 float48ne:2
float48pl:2 float4_accum:2 float4abs:1 float4div:2 float4eq:2 float4ge:2 float4gt:2 float4in:1
float4larger:2 float4le:2 float4lt:2 float4mi:2 float4mul:2 float4ne:2 float4out:1 float4pl:2
float4send:1 float4smaller:2 float4um:1 float4up:1 float8:1 float84div:2 float84eq:2 float84ge:2
float84gt:2 float84le:2 float84lt:2 float84mi:2 float84mul:2 float84ne:2 float84pl:2
float8_accum:2 float8_avg:1 float8_combine:2 float8_corr:1 float8_covar_pop:1 float8_covar_samp:1
float8_regr_accum:3 float8_regr_avgx:1 float8_regr_avgy:1 float8_regr_combine:2
float8_regr_intercept:1 float8_regr_r2:1 float8_regr_slope:1 float8_regr_sxx:1 float8_regr_sxy:1
float8_regr_syy:1 float8_stddev_pop:1 float8_stddev_samp:1 float8_var_pop:1 float8_var_samp:1
float8abs:1 float8div:2 float8eq:2 float8ge:2 float8gt:2 float8in:1 float8larger:2 float8le:2
float8lt:2 float8mi:2 float8mul:2 float8ne:2 float8out:1 float8pl:2 float8send:1 float8smaller:2
float8um:1 float8up:1 floor:1 flt4_mul_cash:2 flt8_mul_cash:2 fmgr_c_validator:1
fmgr_internal_validator:1 fmgr_sql_validator:1 format:*,1 format_type:2 gcd:2 gen_random_uuid:0!
generate_series:2,3 generate_subscripts:2,3 get_bit:2 get_byte:2 get_current_ts_config:0
getdatabaseencoding:0 getpgusername:0 gin_clean_pending_list:1! gin_cmp_tslexeme:2
gin_compare_jsonb:2 gtsvectorin:1 gtsvectorout:1 has_any_column_privilege:2,3
has_column_privilege:3,4 has_database_privilege:2,3 has_foreign_data_wrapper_privilege:2,3
has_function_privilege:2,3 has_language_privilege:2,3 has_parameter_privilege:2,3
has_schema_privilege:2,3 has_sequence_privilege:2,3 has_server_privilege:2,3
has_table_privilege:2,3 has_tablespace_privilege:2,3 has_type_privilege:2,3 hash_aclitem:1
hash_aclitem_extended:2 hash_array:1 hash_array_extended:2 hash_multirange:1
hash_multirange_extended:2 hash_numeric:1 hash_numeric_extended:2 hash_range:1
hash_range_extended:2 hash_record:1 hash_record_extended:2 hashbpchar:1 hashbpcharextended:2
hashchar:1 hashcharextended:2 hashenum:1 hashenumextended:2 hashfloat4:1 hashfloat4extended:2
hashfloat8:1 hashfloat8extended:2 hashinet:1 hashinetextended:2 hashint2:1 hashint2extended:2
hashint4:1 hashint4extended:2 hashint8:1 hashint8extended:2 hashmacaddr:1 hashmacaddr8:1
hashmacaddr8extended:2 hashmacaddrextended:2 hashname:1 hashnameextended:2 hashoid:1
hashoidextended:2 hashoidvector:1 hashoidvectorextended:2 hashtext:1 hashtextextended:2 hashtid:1
hashtidextended:2 height:1 host:1 hostmask:1 in_range:5 index_am_handler_in:1
index_am_handler_out:1 inet_client_addr:0 inet_client_port:0 inet_in:1 inet_merge:2 inet_out:1
inet_same_family:2 inet_send:1 inet_server_addr:0 inet_server_port:0 inetand:2 inetmi:2
inetmi_int8:2 inetnot:1 inetor:2 inetpl:2 initcap:1 int2:1 int24div:2 int24eq:2 int24ge:2
int24gt:2 int24le:2 int24lt:2 int24mi:2 int24mul:2 int24ne:2 int24pl:2 int28div:2 int28eq:2
int28ge:2 int28gt:2 int28le:2 int28lt:2 int28mi:2 int28mul:2 int28ne:2 int28pl:2 int2_avg_accum:2
int2_avg_accum_inv:2 int2_mul_cash:2 int2_sum:2 int2abs:1 int2and:2 int2div:2 int2eq:2 int2ge:2
int2gt:2 int2in:1 int2int4_sum:1 int2larger:2 int2le:2 int2lt:2 int2mi:2 int2mod:2 int2mul:2
int2ne:2 int2not:1 int2or:2 int2out:1 int2pl:2 int2send:1 int2shl:2 int2shr:2 int2smaller:2
int2um:1 int2up:1 int2vectorin:1 int2vectorout:1 int2vectorsend:1 int2xor:2 int4:1 int42div:2
int42eq:2 int42ge:2 int42gt:2 int42le:2 int42lt:2 int42mi:2 int42mul:2 int42ne:2 int42pl:2
int48div:2 int48eq:2 int48ge:2 int48gt:2 int48le:2 int48lt:2 int48mi:2 int48mul:2 int48ne:2
int48pl:2 int4_avg_accum:2 int4_avg_accum_inv:2 int4_avg_combine:2 int4_mul_cash:2 int4_sum:2
int4abs:1 int4and:2 int4div:2 int4eq:2 int4ge:2 int4gt:2 int4in:1 int4inc:1 int4larger:2 int4le:2
int4lt:2 int4mi:2 int4mod:2 int4mul:2 int4multirange:*,0,1 int4ne:2 int4not:1 int4or:2 int4out:1
int4pl:2 int4range:2,3 int4range_canonical:1 int4range_subdiff:2 int4send:1 int4shl:2 int4shr:2
int4smaller:2 int4um:1 int4up:1 int4xor:2 int8:1 int82div:2 int82eq:2 int82ge:2 int82gt:2
int82le:2 int82lt:2 int82mi:2 int82mul:2 int82ne:2 int82pl:2 int84div:2 int84eq:2 int84ge:2
int84gt:2 int84le:2 int84lt:2 int84mi:2 int84mul:2 int84ne:2 int84pl:2 int8_avg:1 int8_mul_cash:2
int8_sum:2 int8abs:1 int8and:2 int8dec:1 int8dec_any:2 int8div:2 int8eq:2 int8ge:2 int8gt:2
int8in:1 int8inc:1 int8inc_any:2 int8inc_float8_float8:3 int8larger:2 int8le:2 int8lt:2 int8mi:2
int8mod:2 int8mul:2 int8multirange:*,0,1 int8ne:2 int8not:1 int8or:2 int8out:1 int8pl:2
int8pl_inet:2 int8range:2,3 int8range_canonical:1 int8range_subdiff:2 int8send:1 int8shl:2
int8shr:2 int8smaller:2 int8um:1 int8up:1 int8xor:2 integer_pl_date:2 inter_lb:2 inter_sb:2
inter_sl:2 interval:1,2 interval_accum:2 interval_accum_inv:2 interval_avg:1 interval_cmp:2
interval_combine:2 interval_div:2 interval_eq:2 interval_ge:2 interval_gt:2 interval_hash:1
interval_hash_extended:2 interval_in:3 interval_larger:2 interval_le:2 interval_lt:2 interval_mi:2
interval_mul:2 interval_ne:2 interval_out:1 interval_pl:2 interval_pl_date:2 interval_pl_time:2
interval_pl_timestamp:2 interval_pl_timestamptz:2 interval_pl_timetz:2 interval_send:1
interval_smaller:2 interval_um:1 intervaltypmodin:1 intervaltypmodout:1 is_normalized:1-2
isclosed:1 isempty:1 isfinite:1 ishorizontal:1,2 isopen:1 isparallel:2 isperp:2 isvertical:1,2
json_array_element:2 json_array_element_text:2 json_array_elements:1 json_array_elements_text:1
json_array_length:1 json_build_array:*,0 json_build_object:*,0 json_each:1 json_each_text:1
json_extract_path:* json_extract_path_text:* json_in:1 json_object:1,2 json_object_field:2
json_object_field_text:2 json_object_keys:1 json_out:1 json_populate_record:2-3
json_populate_recordset:2-3 json_send:1 json_strip_nulls:1 json_to_record:1 json_to_recordset:1
json_to_tsvector:2,3 json_typeof:1 jsonb_array_element:2 jsonb_array_element_text:2
jsonb_array_elements:1 jsonb_array_elements_text:1 jsonb_array_length:1 jsonb_build_array:*,0
jsonb_build_object:*,0 jsonb_cmp:2 jsonb_concat:2 jsonb_contained:2 jsonb_contains:2
jsonb_delete:*,2 jsonb_delete_path:2 jsonb_each:1 jsonb_each_text:1 jsonb_eq:2 jsonb_exists:2
jsonb_exists_all:2 jsonb_exists_any:2 jsonb_extract_path:* jsonb_extract_path_text:* jsonb_ge:2
jsonb_gt:2 jsonb_hash:1 jsonb_hash_extended:2 jsonb_in:1 jsonb_insert:3-4 jsonb_le:2 jsonb_lt:2
jsonb_ne:2 jsonb_object:1,2 jsonb_object_field:2 jsonb_object_field_text:2 jsonb_object_keys:1
jsonb_out:1 jsonb_path_exists:2-4 jsonb_path_exists_opr:2 jsonb_path_exists_tz:2-4
jsonb_path_match:2-4 jsonb_path_match_opr:2 jsonb_path_match_tz:2-4 jsonb_path_query:2-4
jsonb_path_query_array:2-4 jsonb_path_query_array_tz:2-4 jsonb_path_query_first:2-4
jsonb_path_query_first_tz:2-4 jsonb_path_query_tz:2-4 jsonb_populate_record:2
jsonb_populate_recordset:2 jsonb_pretty:1 jsonb_send:1 jsonb_set:3-4 jsonb_set_lax:3-5
jsonb_strip_nulls:1 jsonb_to_record:1 jsonb_to_recordset:1 jsonb_to_tsvector:2,3 jsonb_typeof:1
jsonpath_in:1 jsonpath_out:1 jsonpath_send:1 justify_days:1 justify_hours:1 justify_interval:1
language_handler_in:1 language_handler_out:1 lastval:0! lcm:2 left:2 length:1,2 like:2
like_escape:2 line:2 line_distance:2 line_eq:2 line_horizontal:1 line_in:1 line_interpt:2
line_intersect:2 line_out:1 line_parallel:2 line_perp:2 line_send:1 line_vertical:1 ln:1
lo_close:1! lo_creat:1! lo_create:1! lo_export:2! lo_from_bytea:2! lo_get:1,3! lo_import:1,2!
lo_lseek:3! lo_lseek64:3! lo_open:2! lo_put:3! lo_tell:1! lo_tell64:1! lo_truncate:2!
lo_truncate64:2! lo_unlink:1! log:1,2 log10:1 loread:2! lower:1 lower_inc:1 lower_inf:1 lowrite:2!
lpad:2,3 lseg:1,2 lseg_center:1 lseg_distance:2 lseg_eq:2 lseg_ge:2 lseg_gt:2 lseg_horizontal:1
lseg_in:1 lseg_interpt:2 lseg_intersect:2 lseg_le:2 lseg_length:1 lseg_lt:2 lseg_ne:2 lseg_out:1
lseg_parallel:2 lseg_perp:2 lseg_send:1 lseg_vertical:1 ltrim:1,2 macaddr:1 macaddr8:1
macaddr8_and:2 macaddr8_cmp:2 macaddr8_eq:2 macaddr8_ge:2 macaddr8_gt:2 macaddr8_in:1
macaddr8_le:2 macaddr8_lt:2 macaddr8_ne:2 macaddr8_not:1 macaddr8_or:2 macaddr8_out:1
macaddr8_send:1 macaddr8_set7bit:1 macaddr_and:2 macaddr_cmp:2 macaddr_eq:2 macaddr_ge:2
macaddr_gt:2 macaddr_in:1 macaddr_le:2 macaddr_lt:2 macaddr_ne:2 macaddr_not:1 macaddr_or:2
macaddr_out:1 macaddr_send:1 make_date:3 make_interval:0-7 make_time:3 make_timestamp:6
make_timestamptz:6,7 makeaclitem:4 masklen:1 md5:1 min_scale:1 mod:2 money:1 mul_d_interval:2
multirange:1 multirange_adjacent_multirange:2 multirange_adjacent_range:2
multirange_after_multirange:2 multirange_after_range:2 multirange_before_multirange:2
multirange_before_range:2 multirange_cmp:2 multirange_contained_by_multirange:2
multirange_contained_by_range:2 multirange_contains_elem:2 multirange_contains_multirange:2
multirange_contains_range:2 multirange_eq:2 multirange_ge:2 multirange_gt:2 multirange_in:3
multirange_intersect:2 multirange_intersect_agg_transfn:2 multirange_le:2 multirange_lt:2
multirange_minus:2 multirange_ne:2 multirange_out:1 multirange_overlaps_multirange:2
multirange_overlaps_range:2 multirange_overleft_multirange:2 multirange_overleft_range:2
multirange_overright_multirange:2 multirange_overright_range:2 multirange_send:1
multirange_union:2 mxid_age:1 name:1 nameconcatoid:2 nameeq:2 nameeqtext:2 namege:2 namegetext:2
namegt:2 namegttext:2 nameiclike:2 nameicnlike:2 nameicregexeq:2 nameicregexne:2 namein:1 namele:2
nameletext:2 namelike:2 namelt:2 namelttext:2 namene:2 namenetext:2 namenlike:2 nameout:1
nameregexeq:2 nameregexne:2 namesend:1 netmask:1 network:1 network_cmp:2 network_eq:2 network_ge:2
network_gt:2 network_larger:2 network_le:2 network_lt:2 network_ne:2 network_overlap:2
network_smaller:2 network_sub:2 network_subeq:2 network_sup:2 network_supeq:2 nextval:1!
normalize:1-2 notlike:2 now:0 npoints:1 num_nonnulls:* num_nulls:* numeric:1,2 numeric_abs:1
numeric_add:2 numeric_cmp:2 numeric_div:2 numeric_div_trunc:2 numeric_eq:2 numeric_exp:1
numeric_ge:2 numeric_gt:2 numeric_in:3 numeric_inc:1 numeric_larger:2 numeric_le:2 numeric_ln:1
numeric_log:2 numeric_lt:2 numeric_mod:2 numeric_mul:2 numeric_ne:2 numeric_out:1
numeric_pl_pg_lsn:2 numeric_power:2 numeric_send:1 numeric_smaller:2 numeric_sqrt:1 numeric_sub:2
numeric_uminus:1 numeric_uplus:1 numerictypmodin:1 numerictypmodout:1 nummultirange:*,0,1
numnode:1 numrange:2,3 numrange_subdiff:2 obj_description:1,2 octet_length:1 oid:1 oideq:2 oidge:2
oidgt:2 oidin:1 oidlarger:2 oidle:2 oidlt:2 oidne:2 oidout:1 oidsend:1 oidsmaller:2 oidvectoreq:2
oidvectorge:2 oidvectorgt:2 oidvectorin:1 oidvectorle:2 oidvectorlt:2 oidvectorne:2 oidvectorout:1
oidvectorsend:1 oidvectortypes:1 on_pb:2 on_pl:2 on_ppath:2 on_ps:2 on_sb:2 on_sl:2 overlaps:4
overlay:3,4 parse_ident:1-2 path:1 path_add:2 path_add_pt:2 path_contain_pt:2 path_distance:2
path_div_pt:2 path_in:1 path_inter:2 path_length:1 path_mul_pt:2 path_n_eq:2 path_n_ge:2
path_n_gt:2 path_n_le:2 path_n_lt:2 path_npoints:1 path_out:1 path_send:1 path_sub_pt:2 pclose:1
phraseto_tsquery:1,2 pi:0 plainto_tsquery:1,2 plpgsql_call_handler:0! plpgsql_validator:1!
point:1,2 point_above:2 point_add:2 point_below:2 point_distance:2 point_div:2 point_eq:2
point_horiz:2 point_in:1 point_left:2 point_mul:2 point_ne:2 point_out:1 point_right:2
point_send:1 point_sub:2 point_vert:2 poly_above:2 poly_below:2 poly_center:1 poly_contain:2
poly_contain_pt:2 poly_contained:2 poly_distance:2 poly_in:1 poly_left:2 poly_npoints:1 poly_out:1
poly_overabove:2 poly_overbelow:2 poly_overlap:2 poly_overleft:2 poly_overright:2 poly_right:2
poly_same:2 poly_send:1 polygon:1,2 popen:1 position:2 postgresql_fdw_validator:2 pow:2 power:2
pt_contained_circle:2 pt_contained_poly:2 query_to_xml:4! query_to_xml_and_xmlschema:4!
query_to_xmlschema:4! querytree:1 quote_ident:1 quote_literal:1 quote_nullable:1 radians:1
radius:1 random:0! range_adjacent:2 range_adjacent_multirange:2 range_after:2
range_after_multirange:2 range_before:2 range_before_multirange:2 range_cmp:2 range_contained_by:2
range_contained_by_multirange:2 range_contains:2 range_contains_elem:2 range_contains_multirange:2
range_eq:2 range_ge:2 range_gt:2 range_in:3 range_intersect:2 range_intersect_agg_transfn:2
range_le:2 range_lt:2 range_merge:1,2 range_minus:2 range_ne:2 range_out:1 range_overlaps:2
range_overlaps_multirange:2 range_overleft:2 range_overleft_multirange:2 range_overright:2
range_overright_multirange:2 range_send:1 range_union:2 record_eq:2 record_ge:2 record_gt:2
record_image_eq:2 record_image_ge:2 record_image_gt:2 record_image_le:2 record_image_lt:2
record_image_ne:2 record_in:3 record_le:2 record_lt:2 record_ne:2 record_out:1 record_send:1
regclass:1 regclassin:1 regclassout:1 regclasssend:1 regcollationin:1 regcollationout:1
regcollationsend:1 regconfigin:1 regconfigout:1 regconfigsend:1 regdictionaryin:1
regdictionaryout:1 regdictionarysend:1 regexp_count:2,3,4 regexp_instr:2,3,4,5,6,7 regexp_like:2,3
regexp_match:2,3 regexp_matches:2,3 regexp_replace:3,4,5,6 regexp_split_to_array:2,3
regexp_split_to_table:2,3 regexp_substr:2,3,4,5,6 regnamespacein:1 regnamespaceout:1
regnamespacesend:1 regoperatorin:1 regoperatorout:1 regoperatorsend:1 regoperin:1 regoperout:1
regopersend:1 regprocedurein:1 regprocedureout:1 regproceduresend:1 regprocin:1 regprocout:1
regprocsend:1 regrolein:1 regroleout:1 regrolesend:1 regtypein:1 regtypeout:1 regtypesend:1
repeat:2 replace:3 reverse:1 right:2 round:1,2 row_security_active:1 row_to_json:1,2 rpad:2,3
rtrim:1,2 satisfies_hash_partition:* scale:1 schema_to_xml:4 schema_to_xml_and_xmlschema:4
schema_to_xmlschema:4 session_user:0 set_bit:3 set_byte:3 set_config:3! set_masklen:2 setseed:1!
setval:2,3! setweight:2,3 sha224:1 sha256:1 sha384:1 sha512:1 shell_in:1 shell_out:1
shobj_description:2 sign:1 similar_escape:2 similar_to_escape:1,2 sin:1 sind:1 sinh:1 slope:2
spg_poly_quad_compress:1 split_part:3 sqrt:1 starts_with:2 statement_timestamp:0
string_to_array:2,3 string_to_table:2,3 strip:1 strpos:2 substr:2,3 substring:2,3
table_am_handler_in:1 table_am_handler_out:1 table_to_xml:4 table_to_xml_and_xmlschema:4
table_to_xmlschema:4 tan:1 tand:1 tanh:1 text:1 text_ge:2 text_gt:2 text_larger:2 text_le:2
text_lt:2 text_pattern_ge:2 text_pattern_gt:2 text_pattern_le:2 text_pattern_lt:2 text_smaller:2
textanycat:2 textcat:2 texteq:2 texteqname:2 textgename:2 textgtname:2 texticlike:2 texticnlike:2
texticregexeq:2 texticregexne:2 textin:1 textlen:1 textlename:2 textlike:2 textltname:2 textne:2
textnename:2 textnlike:2 textout:1 textregexeq:2 textregexne:2 textsend:1 tideq:2 tidge:2 tidgt:2
tidin:1 tidlarger:2 tidle:2 tidlt:2 tidne:2 tidout:1 tidsend:1 tidsmaller:2 time:1,2 time_cmp:2
time_eq:2 time_ge:2 time_gt:2 time_hash:1 time_hash_extended:2 time_in:3 time_larger:2 time_le:2
time_lt:2 time_mi_interval:2 time_mi_time:2 time_ne:2 time_out:1 time_pl_interval:2 time_send:1
time_smaller:2 timedate_pl:2 timeofday:0! timestamp:1,2 timestamp_cmp:2 timestamp_cmp_date:2
timestamp_cmp_timestamptz:2 timestamp_eq:2 timestamp_eq_date:2 timestamp_eq_timestamptz:2
timestamp_ge:2 timestamp_ge_date:2 timestamp_ge_timestamptz:2 timestamp_gt:2 timestamp_gt_date:2
timestamp_gt_timestamptz:2 timestamp_hash:1 timestamp_hash_extended:2 timestamp_in:3
timestamp_larger:2 timestamp_le:2 timestamp_le_date:2 timestamp_le_timestamptz:2 timestamp_lt:2
timestamp_lt_date:2 timestamp_lt_timestamptz:2 timestamp_mi:2 timestamp_mi_interval:2
timestamp_ne:2 timestamp_ne_date:2 timestamp_ne_timestamptz:2 timestamp_out:1
timestamp_pl_interval:2 timestamp_send:1 timestamp_smaller:2 timestamptypmodin:1
timestamptypmodout:1 timestamptz:1,2 timestamptz_cmp:2 timestamptz_cmp_date:2
timestamptz_cmp_timestamp:2 timestamptz_eq:2 timestamptz_eq_date:2 timestamptz_eq_timestamp:2
timestamptz_ge:2 timestamptz_ge_date:2 timestamptz_ge_timestamp:2 timestamptz_gt:2
timestamptz_gt_date:2 timestamptz_gt_timestamp:2 timestamptz_in:3 timestamptz_larger:2
timestamptz_le:2 timestamptz_le_date:2 timestamptz_le_timestamp:2 timestamptz_lt:2
timestamptz_lt_date:2 timestamptz_lt_timestamp:2 timestamptz_mi:2 timestamptz_mi_interval:2
timestamptz_ne:2 timestamptz_ne_date:2 timestamptz_ne_timestamp:2 timestamptz_out:1
timestamptz_pl_interval:2 timestamptz_send:1 timestamptz_smaller:2 timestamptztypmodin:1
timestamptztypmodout:1 timetypmodin:1 timetypmodout:1 timetz:1,2 timetz_cmp:2 timetz_eq:2
timetz_ge:2 timetz_gt:2 timetz_hash:1 timetz_hash_extended:2 timetz_in:3 timetz_larger:2
timetz_le:2 timetz_lt:2 timetz_mi_interval:2 timetz_ne:2 timetz_out:1 timetz_pl_interval:2
timetz_send:1 timetz_smaller:2 timetzdate_pl:2 timetztypmodin:1 timetztypmodout:1 timezone:2
to_ascii:1,2 to_char:2 to_date:2 to_hex:1 to_json:1 to_jsonb:1 to_number:2 to_regclass:1
to_regcollation:1 to_regnamespace:1 to_regoper:1 to_regoperator:1 to_regproc:1 to_regprocedure:1
to_regrole:1 to_regtype:1 to_timestamp:1,2 to_tsquery:1,2 to_tsvector:1,2 transaction_timestamp:0
translate:3 trigger_out:1 trim_array:2 trim_scale:1 trunc:1,2 ts_debug:1,2 ts_delete:2 ts_filter:2
ts_headline:2,3,4 ts_lexize:2 ts_match_qv:2 ts_match_tq:2 ts_match_tt:2 ts_match_vq:2 ts_parse:2
ts_rank:2,3,4 ts_rank_cd:2,3,4 ts_rewrite:2,3! ts_stat:1,2! ts_token_type:1 tsm_handler_in:1
tsm_handler_out:1 tsmultirange:*,0,1 tsq_mcontained:2 tsq_mcontains:2 tsquery_and:2 tsquery_cmp:2
tsquery_eq:2 tsquery_ge:2 tsquery_gt:2 tsquery_le:2 tsquery_lt:2 tsquery_ne:2 tsquery_not:1
tsquery_or:2 tsquery_phrase:2,3 tsqueryin:1 tsqueryout:1 tsquerysend:1 tsrange:2,3
tsrange_subdiff:2 tstzmultirange:*,0,1 tstzrange:2,3 tstzrange_subdiff:2 tsvector_cmp:2
tsvector_concat:2 tsvector_eq:2 tsvector_ge:2 tsvector_gt:2 tsvector_le:2 tsvector_lt:2
tsvector_ne:2 tsvector_to_array:1 tsvectorin:1 tsvectorout:1 tsvectorsend:1 txid_current:0
txid_current_if_assigned:0 txid_current_snapshot:0 txid_snapshot_in:1 txid_snapshot_out:1
txid_snapshot_send:1 txid_snapshot_xip:1 txid_snapshot_xmax:1 txid_snapshot_xmin:1 txid_status:1!
txid_visible_in_snapshot:2 unistr:1 unknownin:1 unknownout:1 unknownsend:1 unnest:1 upper:1
upper_inc:1 upper_inf:1 uuid_cmp:2 uuid_eq:2 uuid_ge:2 uuid_gt:2 uuid_hash:1 uuid_hash_extended:2
uuid_in:1 uuid_le:2 uuid_lt:2 uuid_ne:2 uuid_out:1 uuid_send:1 varbit:3 varbit_in:3 varbit_out:1
varbit_send:1 varbitcmp:2 varbiteq:2 varbitge:2 varbitgt:2 varbitle:2 varbitlt:2 varbitne:2
varbittypmodin:1 varbittypmodout:1 varchar:1,3 varcharin:3 varcharout:1 varcharsend:1
varchartypmodin:1 varchartypmodout:1 version:0 void_in:1 void_out:1 void_send:1
websearch_to_tsquery:1,2 width:1 width_bucket:2,4 xid:1 xid8_larger:2 xid8_smaller:2 xid8cmp:2
xid8eq:2 xid8ge:2 xid8gt:2 xid8in:1 xid8le:2 xid8lt:2 xid8ne:2 xid8out:1 xid8send:1 xideq:2
xideqint4:2 xidin:1 xidneq:2 xidneqint4:2 xidout:1 xidsend:1 xml:1 xml_in:1 xml_is_well_formed:1
xml_is_well_formed_content:1 xml_is_well_formed_document:1 xml_out:1 xml_send:1 xmlcomment:1
xmlconcat2:2 xmlexists:2 xmlvalidate:2 xpath:2,3 xpath_exists:2,3
]]

-- extension functions seen in DEFAULTs; all volatile (uuid-ossp, pgcrypto)
local EXTENSION_VOLATILE = { uuid_generate_v1 = true, uuid_generate_v1mc = true,
  uuid_generate_v4 = true, gen_random_bytes = true, gen_salt = true }

-- name -> {volatile = bool, {lo, hi}..., variadic = bool}, read from FUNCTIONS on first ask
local cache = {}

local function lookup(name)
  local spec = cache[name]
  if spec ~= nil then return spec end
  local arities, bang = FUNCTIONS:match("%f[%w_]" .. name .. ":([%d%-,%*]+)(!?)")
  if not arities then
    cache[name] = false
    return false
  end
  spec = { volatile = bang == "!" }
  for a in arities:gmatch("[^,]+") do
    if a == "*" then
      spec.variadic = true
    else
      local lo, hi = a:match("^(%d+)%-(%d+)$")
      spec[#spec + 1] = { tonumber(lo or a), tonumber(hi or a) }
    end
  end
  cache[name] = spec
  return spec
end

--- pgcatalog.volatility(name, nargs) -> "volatile" | "stable" (not volatile) | nil (unknown:
-- not a built-in function, or no overload takes nargs arguments)
function M.volatility(name, nargs)
  if EXTENSION_VOLATILE[name] then return "volatile" end
  if not name:match("^[%w_]+$") then return nil end
  local spec = lookup(name)
  if not spec then return nil end
  local fits = spec.variadic
  for _, r in ipairs(spec) do
    if nargs >= r[1] and nargs <= r[2] then fits = true end
  end
  if not fits then return nil end
  return spec.volatile and "volatile" or "stable"
end

return M
