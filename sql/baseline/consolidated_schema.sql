-- The schema the consolidated baseline must leave behind (runbook step 8: "diff
-- consolidated_schema.sql post_migration_schema.sql"): pg_dump --schema-only of a database
-- built from an empty one by 20250906200000_consolidated_baseline.sql, on a Supabase project
-- (its pg_stat_statements in the extensions schema). expect.schema compares it with the live
-- schema, ignoring comments, SET lines and OWNER TO.
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: auth; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA auth;


ALTER SCHEMA auth OWNER TO postgres;

--
-- Name: extensions; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA extensions;


ALTER SCHEMA extensions OWNER TO postgres;

--
-- Name: supabase_migrations; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA supabase_migrations;


ALTER SCHEMA supabase_migrations OWNER TO postgres;

--
-- Name: pg_stat_statements; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;


--
-- Name: EXTENSION pg_stat_statements; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION pg_stat_statements IS 'track planning and execution statistics of all SQL statements executed';

--
-- Name: uid(); Type: FUNCTION; Schema: auth; Owner: postgres
--

CREATE FUNCTION auth.uid() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$
  SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;


ALTER FUNCTION auth.uid() OWNER TO postgres;

--
-- Name: assign_local_class_sort_order(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.assign_local_class_sort_order() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
BEGIN
  IF NEW.sort_order IS NULL THEN
    SELECT coalesce(max(sort_order), 0) + 10 INTO NEW.sort_order FROM public.local_classes;
  END IF;
  RETURN NEW;
END
$$;


ALTER FUNCTION public.assign_local_class_sort_order() OWNER TO postgres;

--
-- Name: is_admin(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.is_admin() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  SELECT EXISTS (SELECT 1 FROM public.accounts WHERE id = auth.uid() AND role = 'admin')
$$;


ALTER FUNCTION public.is_admin() OWNER TO postgres;

--
-- Name: swap_local_class_sort_order(uuid, uuid); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
DECLARE
  order_1 integer;
  order_2 integer;
BEGIN
  IF auth.uid() IS NOT NULL AND NOT public.is_admin() THEN
    RAISE EXCEPTION 'only admins can reorder local classes' USING ERRCODE = '42501';
  END IF;
  SELECT sort_order INTO order_1 FROM public.local_classes WHERE id = class_id_1 FOR UPDATE;
  SELECT sort_order INTO order_2 FROM public.local_classes WHERE id = class_id_2 FOR UPDATE;
  IF order_1 IS NULL OR order_2 IS NULL THEN
    RAISE EXCEPTION 'local class not found: % or %', class_id_1, class_id_2
      USING ERRCODE = 'P0002';
  END IF;
  UPDATE public.local_classes
     SET sort_order = CASE id WHEN class_id_1 THEN order_2 ELSE order_1 END
   WHERE id IN (class_id_1, class_id_2);
END
$$;


ALTER FUNCTION public.swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid) OWNER TO postgres;

--
-- Name: update_updated_at(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.update_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;


ALTER FUNCTION public.update_updated_at() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: users; Type: TABLE; Schema: auth; Owner: postgres
--

CREATE TABLE auth.users (
    id uuid NOT NULL,
    email text NOT NULL,
    created_at timestamp with time zone NOT NULL
);


ALTER TABLE auth.users OWNER TO postgres;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.accounts (
    id uuid NOT NULL,
    email text NOT NULL,
    display_name text NOT NULL,
    role text DEFAULT 'member'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT accounts_role_check CHECK ((role = ANY (ARRAY['member'::text, 'admin'::text])))
);


ALTER TABLE public.accounts OWNER TO postgres;

--
-- Name: chakai; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.chakai (
    id bigint NOT NULL,
    host_id uuid NOT NULL,
    title text NOT NULL,
    event_date date NOT NULL,
    location text,
    visibility text DEFAULT 'public'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT chakai_visibility_check CHECK ((visibility = ANY (ARRAY['public'::text, 'members'::text, 'private'::text])))
);


ALTER TABLE public.chakai OWNER TO postgres;

--
-- Name: chakai_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.chakai ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.chakai_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: chakai_objects; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.chakai_objects (
    chakai_id bigint NOT NULL,
    object_id bigint NOT NULL
);


ALTER TABLE public.chakai_objects OWNER TO postgres;

--
-- Name: local_classes; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.local_classes (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    title text NOT NULL,
    description text,
    location text,
    url text,
    sort_order integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.local_classes OWNER TO postgres;

--
-- Name: media; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.media (
    id bigint NOT NULL,
    object_id bigint NOT NULL,
    storage_path text NOT NULL,
    mime_type text NOT NULL,
    sort_order integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.media OWNER TO postgres;

--
-- Name: media_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.media ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.media_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: objects; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.objects (
    id bigint NOT NULL,
    owner_id uuid,
    name text NOT NULL,
    name_japanese text,
    category text NOT NULL,
    era text,
    description text,
    is_public boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.objects OWNER TO postgres;

--
-- Name: objects_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.objects ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.objects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_migrations; Type: TABLE; Schema: supabase_migrations; Owner: postgres
--

CREATE TABLE supabase_migrations.schema_migrations (
    version text NOT NULL,
    statements text[],
    name text
);


ALTER TABLE supabase_migrations.schema_migrations OWNER TO postgres;

--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: auth; Owner: postgres
--

ALTER TABLE ONLY auth.users
    ADD CONSTRAINT users_email_key UNIQUE (email);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: auth; Owner: postgres
--

ALTER TABLE ONLY auth.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_email_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_email_key UNIQUE (email);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: chakai_objects chakai_objects_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.chakai_objects
    ADD CONSTRAINT chakai_objects_pkey PRIMARY KEY (chakai_id, object_id);


--
-- Name: chakai chakai_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.chakai
    ADD CONSTRAINT chakai_pkey PRIMARY KEY (id);


--
-- Name: local_classes local_classes_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.local_classes
    ADD CONSTRAINT local_classes_pkey PRIMARY KEY (id);


--
-- Name: local_classes local_classes_sort_order_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.local_classes
    ADD CONSTRAINT local_classes_sort_order_key UNIQUE (sort_order) DEFERRABLE;


--
-- Name: media media_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.media
    ADD CONSTRAINT media_pkey PRIMARY KEY (id);


--
-- Name: media media_storage_path_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.media
    ADD CONSTRAINT media_storage_path_key UNIQUE (storage_path);


--
-- Name: objects objects_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.objects
    ADD CONSTRAINT objects_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: supabase_migrations; Owner: postgres
--

ALTER TABLE ONLY supabase_migrations.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: idx_chakai_event_date; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX idx_chakai_event_date ON public.chakai USING btree (event_date);


--
-- Name: idx_chakai_host_id; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX idx_chakai_host_id ON public.chakai USING btree (host_id);


--
-- Name: idx_media_object_id; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX idx_media_object_id ON public.media USING btree (object_id, sort_order);


--
-- Name: idx_objects_category; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX idx_objects_category ON public.objects USING btree (category);


--
-- Name: idx_objects_owner_id; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX idx_objects_owner_id ON public.objects USING btree (owner_id);


--
-- Name: local_classes assign_local_class_sort_order; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE TRIGGER assign_local_class_sort_order BEFORE INSERT ON public.local_classes FOR EACH ROW EXECUTE FUNCTION public.assign_local_class_sort_order();


--
-- Name: local_classes set_local_classes_updated_at; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE TRIGGER set_local_classes_updated_at BEFORE UPDATE ON public.local_classes FOR EACH ROW EXECUTE FUNCTION public.update_updated_at();


--
-- Name: objects set_objects_updated_at; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE TRIGGER set_objects_updated_at BEFORE UPDATE ON public.objects FOR EACH ROW EXECUTE FUNCTION public.update_updated_at();


--
-- Name: accounts accounts_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_id_fkey FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: chakai chakai_host_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.chakai
    ADD CONSTRAINT chakai_host_id_fkey FOREIGN KEY (host_id) REFERENCES public.accounts(id);


--
-- Name: chakai_objects chakai_objects_chakai_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.chakai_objects
    ADD CONSTRAINT chakai_objects_chakai_id_fkey FOREIGN KEY (chakai_id) REFERENCES public.chakai(id) ON DELETE CASCADE;


--
-- Name: chakai_objects chakai_objects_object_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.chakai_objects
    ADD CONSTRAINT chakai_objects_object_id_fkey FOREIGN KEY (object_id) REFERENCES public.objects(id) ON DELETE CASCADE;


--
-- Name: media media_object_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.media
    ADD CONSTRAINT media_object_id_fkey FOREIGN KEY (object_id) REFERENCES public.objects(id) ON DELETE CASCADE;


--
-- Name: objects objects_owner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.objects
    ADD CONSTRAINT objects_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES public.accounts(id) ON DELETE SET NULL;


--
-- Name: accounts; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;

--
-- Name: accounts accounts_select_own; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY accounts_select_own ON public.accounts FOR SELECT TO authenticated USING (((id = auth.uid()) OR public.is_admin()));


--
-- Name: accounts accounts_update_own; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY accounts_update_own ON public.accounts FOR UPDATE TO authenticated USING ((id = auth.uid())) WITH CHECK ((id = auth.uid()));


--
-- Name: chakai; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.chakai ENABLE ROW LEVEL SECURITY;

--
-- Name: chakai_objects; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.chakai_objects ENABLE ROW LEVEL SECURITY;

--
-- Name: chakai_objects chakai_objects_select_visible; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY chakai_objects_select_visible ON public.chakai_objects FOR SELECT USING ((EXISTS ( SELECT 1
   FROM public.chakai c
  WHERE (c.id = chakai_objects.chakai_id))));


--
-- Name: chakai chakai_select_visible; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY chakai_select_visible ON public.chakai FOR SELECT USING (((visibility = 'public'::text) OR ((visibility = 'members'::text) AND (auth.uid() IS NOT NULL)) OR (host_id = auth.uid())));


--
-- Name: chakai chakai_write_host; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY chakai_write_host ON public.chakai TO authenticated USING ((host_id = auth.uid())) WITH CHECK ((host_id = auth.uid()));


--
-- Name: local_classes; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.local_classes ENABLE ROW LEVEL SECURITY;

--
-- Name: local_classes local_classes_select_public; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY local_classes_select_public ON public.local_classes FOR SELECT USING (true);


--
-- Name: local_classes local_classes_write_admin; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY local_classes_write_admin ON public.local_classes TO authenticated USING (public.is_admin()) WITH CHECK (public.is_admin());


--
-- Name: media; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.media ENABLE ROW LEVEL SECURITY;

--
-- Name: media media_select_public; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY media_select_public ON public.media FOR SELECT USING ((EXISTS ( SELECT 1
   FROM public.objects o
  WHERE ((o.id = media.object_id) AND (o.is_public OR (o.owner_id = auth.uid()))))));


--
-- Name: media media_write_admin; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY media_write_admin ON public.media TO authenticated USING (public.is_admin()) WITH CHECK (public.is_admin());


--
-- Name: objects; Type: ROW SECURITY; Schema: public; Owner: postgres
--

ALTER TABLE public.objects ENABLE ROW LEVEL SECURITY;

--
-- Name: objects objects_select_public; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY objects_select_public ON public.objects FOR SELECT USING ((is_public OR (owner_id = auth.uid())));


--
-- Name: objects objects_write_own; Type: POLICY; Schema: public; Owner: postgres
--

CREATE POLICY objects_write_own ON public.objects TO authenticated USING (((owner_id = auth.uid()) OR public.is_admin())) WITH CHECK (((owner_id = auth.uid()) OR public.is_admin()));


--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: pg_database_owner
--

GRANT USAGE ON SCHEMA public TO anon;
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT USAGE ON SCHEMA public TO service_role;


--
-- Name: FUNCTION swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid); Type: ACL; Schema: public; Owner: postgres
--

REVOKE ALL ON FUNCTION public.swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid) TO authenticated;
GRANT ALL ON FUNCTION public.swap_local_class_sort_order(class_id_1 uuid, class_id_2 uuid) TO service_role;


--
-- Name: TABLE accounts; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.accounts TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.accounts TO authenticated;
GRANT ALL ON TABLE public.accounts TO service_role;


--
-- Name: TABLE chakai; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.chakai TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.chakai TO authenticated;
GRANT ALL ON TABLE public.chakai TO service_role;


--
-- Name: TABLE chakai_objects; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.chakai_objects TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.chakai_objects TO authenticated;
GRANT ALL ON TABLE public.chakai_objects TO service_role;


--
-- Name: TABLE local_classes; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.local_classes TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.local_classes TO authenticated;
GRANT ALL ON TABLE public.local_classes TO service_role;


--
-- Name: TABLE media; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.media TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.media TO authenticated;
GRANT ALL ON TABLE public.media TO service_role;


--
-- Name: TABLE objects; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT ON TABLE public.objects TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.objects TO authenticated;
GRANT ALL ON TABLE public.objects TO service_role;


--
-- PostgreSQL database dump complete
--


