// The whole state of a user, team or collection as JSON, for the read model
// the directory saves and loads at start (store/directory_store.h). Unlike
// the API's views (user_to_json, collection_to_json) nothing is left out:
// token hashes, the password's encoding, webhook secrets, a collection's
// leaves and who added them. Never shown to a caller.
#pragma once

#include <boost/json/object.hpp>

#include "leaves/base/result.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/user.h"

namespace leaves::domain {

// The format of these objects; a stored model of another format is rebuilt
// from the log.
constexpr int kStateFormat = 1;

boost::json::object user_state_to_json(const user& u);
result<user> user_state_from_json(const boost::json::object& o);
boost::json::object team_state_to_json(const team& t);
result<team> team_state_from_json(const boost::json::object& o);
boost::json::object collection_state_to_json(const collection& c);
result<collection> collection_state_from_json(const boost::json::object& o);

}  // namespace leaves::domain
